"""The language of what instructors read (report, batch summary, progress): Spanish by default, English as an option.

Students always read Spanish; this switch is for the teacher's side only. A course sets it in nbgrader_config.py
(`c.Instructor.language = "en"`); `--language` on the command line wins over the course.
"""

from __future__ import annotations

import enum

from traitlets import Enum
from traitlets.config import Config, Configurable


class Language(str, enum.Enum):
    """A language the teacher's side is written in."""

    ES = "es"
    EN = "en"


DEFAULT_LANGUAGE = Language.ES


class Instructor(Configurable):
    """What the course's instructors read: the report, the batch summary and the progress lines."""

    language = Enum(
        [language.value for language in Language],
        default_value=DEFAULT_LANGUAGE.value,
        help="Language of the teacher's report, the batch summary and progress lines: 'es' (default) or 'en'.",
    ).tag(config=True)


def course_language(config: Config) -> Language:
    """The language the course's configuration asks for (c.Instructor.language), Spanish when it names none."""
    return Language(Instructor(config=config).language)

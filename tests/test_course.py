"""The course directory: a scratch copy carries what grading needs (configuration, sources, the course's own lessons) and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.engine.course import CONFIG_FILE, Course
from conftest import ROOT


def test_a_copy_carries_the_configuration_the_sources_and_the_courses_own_lesson_packages(tmp_path):
    original = tmp_path / "original"
    (original / "solutions").mkdir(parents=True)
    shutil.copytree(ROOT / "solutions" / "activation_maxpool", original / "solutions" / "retake")
    (original / "solutions" / "retake" / "activation_maxpool.ipynb").rename(original / "solutions" / "retake" / "retake.ipynb")
    config = (ROOT / CONFIG_FILE).read_text(encoding="utf-8")
    (original / CONFIG_FILE).write_text(config + '\nc.Lessons.assignments = {"retake": "mylessons.retake"}\n', encoding="utf-8")
    (original / "mylessons" / "retake").mkdir(parents=True)
    (original / "mylessons" / "__init__.py").write_text("", encoding="utf-8")
    (original / "mylessons" / "retake" / "__init__.py").write_text(
        "from autograder.lessons.activation_maxpool import LESSON\n", encoding="utf-8")
    (original / "submitted" / "ana" / "retake").mkdir(parents=True)
    (original / "gradebook.db").write_bytes(b"")

    copy = Course.at(original).copy_to(tmp_path / "copy")

    assert copy.root == (tmp_path / "copy").resolve()
    assert copy.assignments() == ["retake"]
    assert (copy.root / "mylessons" / "retake" / "__init__.py").is_file()
    assert not (copy.root / "submitted").exists() and not copy.gradebook.exists()


def test_a_copy_replaces_what_was_at_the_target(tmp_path):
    stale = tmp_path / "copy" / "submitted" / "old_student"
    stale.mkdir(parents=True)
    copy = Course.at(ROOT).copy_to(tmp_path / "copy")
    assert not stale.exists() and copy.assignments() == Course.at(ROOT).assignments()

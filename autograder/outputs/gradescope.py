"""Build the zip Gradescope's autograder upload expects, byte-identical for the same course tree."""

from __future__ import annotations

import json
import os
import shlex
import stat
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.engine import messages
from autograder.engine.course import Course
from autograder.engine.errors import AutograderError
from autograder.outputs.gradescope_run import ALLOW_UNSANDBOXED_FILE, COURSE_DIR

DEFAULT_OUTPUT = Path("autograder.zip")
# Fixed timestamp of every entry (the earliest a zip can hold), so builds do not depend on when or where they ran.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
EXECUTABLE = 0o755
REGULAR = 0o644

# What grading needs from the course, copied under course/ in the zip: required, then optional.
COURSE_FILES = ("pyproject.toml", "constraints.txt", "nbgrader_config.py")
COURSE_FOLDERS = ("autograder", "autograder_stub", "solutions")
OPTIONAL_ITEMS = ("README.md", "assignments", "lessons", "templates")  # README.md: pyproject.toml names it as the
# package's readme; lessons/: the course's own lesson packages (docs/adding-a-lesson.md); templates/: the feedback page
# Never shipped, wherever they appear inside the copied items (tests/, submitted/, autograded/ are never copied at all).
EXCLUDED_NAMES = frozenset(
    {".git", ".venv", "__pycache__", ".ipynb_checkpoints", ".pytest_cache", "gradebook.db", "gradebook.db-journal"}
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info")

# PyTorch's index of CPU-only wheels (PyPI's Linux torch wheel is the CUDA build, with gigabytes of GPU libraries).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


class GradescopeBuildError(AutograderError):
    """The course lacks something the Gradescope zip must carry."""

    def __init__(self, root: Path, missing: str) -> None:
        self.root = Path(root)
        self.missing = missing
        super().__init__(f"cannot build the Gradescope zip from {self.root}: {missing} is missing (build from the repository root)")


@dataclass(frozen=True)
class ZipEntry:
    """One file of the zip: its name inside it, its bytes and its Unix mode."""

    name: str
    data: bytes
    mode: int = REGULAR


@dataclass(frozen=True)
class GradescopeZip:
    """A built autograder zip: where it is and what it holds."""

    path: Path
    names: tuple[str, ...]
    allow_unsandboxed: bool


SETUP_SH = f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, from /autograder/source (the unpacked zip) when it builds the
# autograder image. Written for Gradescope's default base image, Ubuntu 22.04. Everything is
# downloaded here, never when the zip is built, and every Python package version is pinned by
# constraints.txt (the same file as the course's), so Gradescope grades with the environment the
# course was tested with.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SOURCE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
ROOT="${{AUTOGRADER_GRADESCOPE_ROOT:-/autograder}}"
VENV="$ROOT/venv"
PY=python3.11

apt-get update
# bubblewrap is the sandbox for student code; util-linux gives it prlimit, setpriv and unshare.
apt-get install -y --no-install-recommends bubblewrap util-linux ca-certificates
command -v setpriv >/dev/null || apt-get install -y --no-install-recommends setpriv || true

# Python 3.11, which the pinned environment needs: Ubuntu 22.04 has it in universe; Ubuntu 24.04 does
# not, so there it comes from the deadsnakes PPA.
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
  if ! apt-get install -y --no-install-recommends python3.11 python3.11-venv; then
    apt-get install -y --no-install-recommends software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y --no-install-recommends python3.11 python3.11-venv
  fi
fi

"$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --no-cache-dir --disable-pip-version-check)
# 1. torch alone, and only from PyTorch's CPU index: PyPI's Linux wheel is the CUDA build. The pin
#    torch==2.13.0 in constraints.txt matches the CPU wheel 2.13.0+cpu (a pin without a local label
#    ignores it). --no-deps: torch's own dependencies come from PyPI in step 2, pinned. The two
#    indexes are never mixed in one pip run (no --extra-index-url), so no package can come from the
#    other index than intended.
"${{PIP[@]}}" --no-deps --index-url {TORCH_CPU_INDEX} -c "$SOURCE/constraints.txt" torch
# 2. Everything else from PyPI, pinned by constraints.txt (torch is already installed, so it stays the CPU build).
"${{PIP[@]}}" -c "$SOURCE/constraints.txt" -r "$SOURCE/requirements.txt"
# 3. The grader itself, from the copied course (its dependencies were installed above).
"${{PIP[@]}}" --no-deps -c "$SOURCE/constraints.txt" "$SOURCE/{COURSE_DIR}"

# Fail the build now, not at the first submission, when the environment is not the pinned one.
"$VENV/bin/python" -m pip check
"$VENV/bin/python" -c 'import torch, sys; v = torch.__version__; sys.exit(0 if v.split("+")[0] == "2.13.0" and not torch.cuda.is_available() else "torch " + v)'
# Say in the build log whether the sandbox can start in this container, and what happens if not.
PYTHONPATH="$SOURCE/{COURSE_DIR}" AUTOGRADER_GRADESCOPE_ROOT="$ROOT" "$VENV/bin/python" -m autograder.outputs.gradescope_run --check
"""


def _fallback_results() -> str:
    """The results.json run_autograder writes when the grader left none (it could not even start)."""
    data = {
        "score": 0.0,
        "output": messages.GRADER_CRASHED,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"error": "run_autograder: the grader exited without writing results.json (see stdout)"},
    }
    return json.dumps(data, ensure_ascii=True)


def run_autograder_script(assignment: str) -> str:
    """run_autograder, grading the given assignment."""
    return f"""#!/usr/bin/env bash
# Gradescope runs this for every submission, from /autograder, and reads only results/results.json.
# The grading itself (find the notebook, check the sandbox, grade, write results) is
# autograder.outputs.gradescope_run; this script makes sure a results file exists whatever happens to it.
# It exits 0 whenever results.json exists: Gradescope shows the student that file, score and reason.
ROOT="${{AUTOGRADER_GRADESCOPE_ROOT:-/autograder}}"
COURSE="$ROOT/source/{COURSE_DIR}"
RESULTS="$ROOT/results/results.json"
# The venv setup.sh made, unless told otherwise (tests point this at an existing environment).
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"

mkdir -p "$ROOT/results"
rm -f "$RESULTS"
# The zip's own copy of the grader, whatever else the environment has installed.
AUTOGRADER_GRADESCOPE_ROOT="$ROOT" PYTHONPATH="$COURSE${{PYTHONPATH:+:$PYTHONPATH}}" \\
  "$PYTHON" -m autograder.outputs.gradescope_run --assignment {shlex.quote(assignment)}
status=$?
if [ ! -s "$RESULTS" ]; then
  echo "run_autograder: the grader exited with status $status and wrote no results; writing a zero score"
  cat > "$RESULTS" <<'RESULTS_JSON'
{_fallback_results()}
RESULTS_JSON
fi
exit 0
"""

ALLOW_UNSANDBOXED_NOTE = """Written by `autograder gradescope --allow-unsandboxed`.
Where bubblewrap cannot start (Gradescope's containers may forbid user namespaces), submissions are
graded without the sandbox: student code then runs as root inside Gradescope's per-submission
container. See README.md, "Gradescope". Delete this file to refuse instead (a zero saying why).
"""


def requirements(course: Course) -> str:
    """requirements.txt: the package's own dependencies from pyproject.toml (versions come from constraints.txt)."""
    path = course.root / "pyproject.toml"
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        raise GradescopeBuildError(course.root, f"a readable pyproject.toml with a [project] table ({error})") from error
    lines = ["# The grader's dependencies (from pyproject.toml); exact versions are in constraints.txt.", *project.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def entries(course: Course, assignment: str, allow_unsandboxed: bool = False) -> list[ZipEntry]:
    """Every file of the zip, sorted by name."""
    root = course.root
    for name in (*COURSE_FILES, *COURSE_FOLDERS):
        if not (root / name).exists():
            raise GradescopeBuildError(root, name)
    course.source_notebook(assignment)  # CourseError now, not at the first submission
    found = [
        ZipEntry("setup.sh", SETUP_SH.encode(), EXECUTABLE),
        ZipEntry("run_autograder", run_autograder_script(assignment).encode(), EXECUTABLE),
        ZipEntry("requirements.txt", requirements(course).encode()),
        ZipEntry("constraints.txt", (root / "constraints.txt").read_bytes()),
    ]
    if allow_unsandboxed:
        found.append(ZipEntry(ALLOW_UNSANDBOXED_FILE, ALLOW_UNSANDBOXED_NOTE.encode()))
    for name in (*COURSE_FILES, *COURSE_FOLDERS, *OPTIONAL_ITEMS):
        found.extend(_course_entries(root, root / name))
    return sorted(found, key=lambda entry: entry.name)


def _course_entries(root: Path, top: Path) -> list[ZipEntry]:
    """The files at or under top, as course/<path> entries, leaving out caches, links and grading state."""
    files = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
    out = []
    for path in files:
        relative = path.relative_to(root)
        if path.is_symlink() or not path.is_file() or _excluded(relative):
            continue
        mode = EXECUTABLE if path.stat().st_mode & stat.S_IXUSR else REGULAR
        out.append(ZipEntry(f"{COURSE_DIR}/{relative.as_posix()}", path.read_bytes(), mode))
    return out


def _excluded(relative: Path) -> bool:
    return any(part in EXCLUDED_NAMES or part.endswith(EXCLUDED_SUFFIXES) for part in relative.parts)


def write_zip(found: list[ZipEntry], output: Path) -> None:
    """Write the entries with fixed timestamps and Unix modes, atomically (a partial zip never sits at output)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for entry in found:
            info = zipfile.ZipInfo(entry.name, date_time=ZIP_TIME)
            info.create_system = 3  # Unix, so unzip restores the modes below
            info.external_attr = (stat.S_IFREG | entry.mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entry.data, compresslevel=9)
    os.replace(partial, output)


def build(
    course: Course, output: Path, assignment: str, allow_unsandboxed: bool = False
) -> GradescopeZip:
    """The autograder zip for this course, ready to upload on Gradescope's "Configure Autograder" page."""
    found = entries(course, assignment, allow_unsandboxed)
    write_zip(found, Path(output))
    return GradescopeZip(Path(output), tuple(entry.name for entry in found), allow_unsandboxed)

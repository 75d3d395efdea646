"""The Gradescope zip: its contents and modes, byte-identical rebuilds, and run_autograder for real on unpacked copies."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.engine import messages
from activation import ASSIGNMENT, MAXPOOL2D, PARTS, TESTS
from autograder.cli import main
from autograder.engine.course import Course
from autograder.outputs.gradescope import COURSE_FILES, build
from autograder.engine.results import GradingResult
from autograder.isolation.bwrap import SandboxUnavailable, check_available

from conftest import EXPECTED_SCORES, ROOT, SAMPLES

REQUIRED = (
    "setup.sh",
    "run_autograder",
    "requirements.txt",
    "constraints.txt",
    "course/pyproject.toml",
    "course/constraints.txt",
    "course/nbgrader_config.py",
    "course/autograder/__init__.py",
    "course/autograder/outputs/gradescope_run.py",
    f"course/solutions/{ASSIGNMENT}/{ASSIGNMENT}.ipynb",
)
FORBIDDEN_PARTS = {".venv", "tests", "gradebook.db", "submitted", "autograded", "__pycache__", ".git", ".ipynb_checkpoints"}


def modes(path: Path) -> dict[str, int]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: stat.S_IMODE(info.external_attr >> 16) for info in archive.infolist()}


def unpack(zip_path: Path, root: Path) -> Path:
    """Lay the zip out as Gradescope does: unzipped (modes kept) into <root>/source, with submission/ beside it."""
    if shutil.which("unzip") is None:
        pytest.skip("unzip is not installed")
    source = root / "source"
    source.mkdir(parents=True)
    subprocess.run(["unzip", "-q", str(zip_path), "-d", str(source)], check=True)
    (root / "submission").mkdir()
    return root


def run_autograder(root: Path, path: str | None = None, python: str = sys.executable) -> tuple[subprocess.CompletedProcess, GradingResult, dict]:
    """Run the unpacked run_autograder against root with this test's Python, as Gradescope would (cwd /autograder)."""
    env = {**os.environ, "AUTOGRADER_GRADESCOPE_ROOT": str(root), "AUTOGRADER_PYTHON": python}
    env.pop("AUTOGRADER_ALLOW_UNSANDBOXED", None)
    if path is not None:
        env["PATH"] = path
    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    results = root / "results" / "results.json"
    raw = json.loads(results.read_text(encoding="utf-8"))
    return done, (GradingResult.read(results) if raw.get("tests") else GradingResult(notebook="")), raw


def path_without_bwrap(folder: Path) -> str:
    """A PATH with every command of this one but bwrap: a machine where bubblewrap is not installed."""
    folder.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = folder / entry.name
            if entry.name != "bwrap" and not link.exists() and not link.is_symlink():
                link.symlink_to(entry.path)
    return str(folder)


def course_copy(target: Path) -> Course:
    """The repository's course copied to target, so a test may add clutter to it."""
    target.mkdir()
    for name in (*COURSE_FILES, "README.md"):
        shutil.copy2(ROOT / name, target / name)
    for name in ("autograder", "autograder_stub", "solutions", "assignments"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return Course.at(target)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(Course.at(ROOT), tmp_path_factory.mktemp("zip") / "autograder.zip", ASSIGNMENT).path


@pytest.fixture(scope="module")
def built_unsandboxed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(Course.at(ROOT), tmp_path_factory.mktemp("zip") / "autograder.zip", ASSIGNMENT, allow_unsandboxed=True).path


def test_the_zip_holds_what_gradescope_runs_at_its_root(built: Path):
    names = set(modes(built))
    assert set(REQUIRED) <= names
    assert all(name.startswith("course/") for name in names - {"setup.sh", "run_autograder", "requirements.txt", "constraints.txt"})


def test_scripts_are_executable_and_course_files_keep_their_modes(tmp_path: Path):
    course = course_copy(tmp_path / "course")
    (course.root / "autograder" / "commands" / "demo.py").chmod(0o755)
    found = modes(build(course, tmp_path / "out.zip", ASSIGNMENT).path)
    assert found["setup.sh"] == found["run_autograder"] == 0o755
    assert found["course/autograder/commands/demo.py"] == 0o755
    assert found["course/nbgrader_config.py"] == found["requirements.txt"] == 0o644


def test_grading_state_caches_and_tests_are_never_shipped(tmp_path: Path):
    course = course_copy(tmp_path / "course")
    clutter = [
        ".venv/bin/python",
        "tests/test_x.py",
        "gradebook.db",
        "submitted/ana/activation_maxpool/activation_maxpool.ipynb",
        "autograded/ana/activation_maxpool/activation_maxpool.ipynb",
        ".git/HEAD",
        "autograder/__pycache__/cli.cpython-311.pyc",
        "autograder/checks/stale.pyc",
        "solutions/activation_maxpool/.ipynb_checkpoints/activation_maxpool-checkpoint.ipynb",
        "solutions/gradebook.db",
    ]
    for name in clutter:
        (course.root / name).parent.mkdir(parents=True, exist_ok=True)
        (course.root / name).write_text("clutter")
    names = modes(build(course, tmp_path / "out.zip", ASSIGNMENT).path)
    assert set(REQUIRED) <= set(names)
    shipped = [name for name in names if FORBIDDEN_PARTS.intersection(name.split("/")) or name.endswith(".pyc")]
    assert shipped == []


def test_two_builds_of_the_same_tree_are_byte_identical(tmp_path: Path):
    course = course_copy(tmp_path / "course")
    first = build(course, tmp_path / "first.zip", ASSIGNMENT).path.read_bytes()
    for path in (course.root / "autograder").rglob("*.py"):  # new timestamps, same contents
        os.utime(path, (1_000_000_000, 1_000_000_000))
    second = build(course, tmp_path / "second.zip", ASSIGNMENT).path.read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "first.zip") as archive:
        names = archive.namelist()
    assert names == sorted(names)


def test_setup_sh_and_run_autograder_are_valid_bash(built: Path, tmp_path: Path):
    root = unpack(built, tmp_path / "autograder")
    for script in ("setup.sh", "run_autograder"):
        done = subprocess.run(["bash", "-n", str(root / "source" / script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_setup_pins_every_install_through_constraints_and_takes_torch_from_the_cpu_index(built: Path):
    with zipfile.ZipFile(built) as archive:
        setup = archive.read("setup.sh").decode()
        constraints = archive.read("constraints.txt").decode()
        requirements = archive.read("requirements.txt").decode()
    assert "torch==2.13.0" in constraints.splitlines()
    assert constraints == (ROOT / "constraints.txt").read_text()
    assert "torch==2.13.0" in requirements.splitlines() and "nbgrader==0.9.6" in requirements.splitlines()
    installs = [line for line in setup.splitlines() if line.startswith('"${PIP[@]}"')]
    assert len(installs) == 3 and all('-c "$SOURCE/constraints.txt"' in line for line in installs)
    assert "--index-url https://download.pytorch.org/whl/cpu" in installs[0] and installs[0].endswith(" torch")
    assert not any("--extra-index-url" in line for line in installs)
    assert "apt-get install -y --no-install-recommends bubblewrap" in setup


def test_the_unsandboxed_flag_file_is_only_there_when_asked(built: Path, built_unsandboxed: Path):
    assert "ALLOW_UNSANDBOXED" not in modes(built)
    assert "ALLOW_UNSANDBOXED" in modes(built_unsandboxed)


def test_the_verb_writes_the_zip_and_reports_a_course_it_cannot_ship(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["gradescope", "--course", str(ROOT), "--output", str(tmp_path / "g.zip")]) == 0
    assert "run_autograder" in modes(tmp_path / "g.zip")
    course = course_copy(tmp_path / "course")
    (course.root / "pyproject.toml").unlink()
    capsys.readouterr()
    assert main(["gradescope", "--course", str(course.root), "--output", str(tmp_path / "h.zip")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pyproject.toml is missing" in err
    assert not (tmp_path / "h.zip").exists()
    assert main(["gradescope", "--course", str(ROOT), "--assignment", "otra", "--output", str(tmp_path / "i.zip")]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "solutions/otra/otra.ipynb" in err
    assert not (tmp_path / "i.zip").exists()


def test_no_notebook_submitted_gives_a_zero_with_the_reason_in_spanish(built: Path, tmp_path: Path):
    root = unpack(built, tmp_path / "autograder")
    (root / "submission" / "README.txt").write_text("olvidé el cuaderno")
    done, result, raw = run_autograder(root)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = messages.NO_NOTEBOOK.format(expected=f"{ASSIGNMENT}.ipynb")
    assert raw["score"] == 0 and raw["output"] == expected
    assert result.max_score == 22 and len(result.tests) == len(TESTS)
    assert all(test.output == expected and test.mistake == "ungradable" for test in result.tests)


def test_a_machine_without_the_sandbox_refuses_to_grade_unless_the_zip_allows_it(built: Path, tmp_path: Path):
    root = unpack(built, tmp_path / "autograder")
    shutil.copy(SAMPLES / "solution.ipynb", root / "submission" / f"{ASSIGNMENT}.ipynb")
    done, result, raw = run_autograder(root, path=path_without_bwrap(tmp_path / "bin"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert raw["score"] == 0 and result.error is not None
    assert result.error.startswith(messages.NO_SANDBOX.split("{")[0]) and "bubblewrap" in result.error
    assert "--allow-unsandboxed" in done.stdout


def test_a_grader_that_cannot_start_still_leaves_a_zero_results_file(built: Path, tmp_path: Path):
    root = unpack(built, tmp_path / "autograder")
    shutil.copy(SAMPLES / "solution.ipynb", root / "submission" / f"{ASSIGNMENT}.ipynb")
    done, _, raw = run_autograder(root, python=str(tmp_path / "no-such-python"))
    assert done.returncode == 0
    assert raw["score"] == 0 and raw["output"] == messages.GRADER_CRASHED


@pytest.mark.e2e
def test_gradescope_grades_the_named_notebook_in_the_sandbox(built: Path, tmp_path: Path):
    try:
        check_available()
    except SandboxUnavailable as error:
        pytest.skip(str(error))
    root = unpack(built, tmp_path / "autograder")
    shutil.copy(SAMPLES / "solution.ipynb", root / "submission" / f"{ASSIGNMENT}.ipynb")
    shutil.copy(SAMPLES / "blank.ipynb", root / "submission" / "borrador.ipynb")  # the named one wins
    done, result, raw = run_autograder(root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(sandboxed)" in done.stdout
    assert result.error is None and result.notebook.endswith(f"submission/{ASSIGNMENT}.ipynb")
    assert raw["score"] == raw["max_score"] == 22
    assert [t["extra_data"]["grade_id"] for t in raw["tests"]] == [spec.grade_id for spec in TESTS]
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] for t in raw["tests"])


@pytest.mark.e2e
def test_gradescope_grades_unsandboxed_where_the_zip_allows_it(built_unsandboxed: Path, tmp_path: Path):
    root = unpack(built_unsandboxed, tmp_path / "autograder")
    shutil.copy(SAMPLES / "stride1_when_none.ipynb", root / "submission" / "stride1_when_none.ipynb")  # the only notebook
    done, result, raw = run_autograder(root, path=path_without_bwrap(tmp_path / "bin"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(not sandboxed)" in done.stdout and "bubblewrap" in done.stdout
    expected = EXPECTED_SCORES["stride1_when_none"]
    assert {p.part.name: p.score for p in result.parts()} == expected
    assert raw["score"] == sum(expected.values()) and raw["max_score"] == 22
    failed = [t for t in result.tests if not t.passed]
    assert failed and all(t.spec.part.name == MAXPOOL2D.name and t.mistake for t in failed)

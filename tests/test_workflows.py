"""The workflow templates: the Classroom one grades a student's repository as the README says, the fan-out one a cohort.

Both are parsed with PyYAML and checked step by step; the Classroom workflow's grading steps are also run for real,
with bash, on a local copy of a student repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder.engine.results import GradingResult

from conftest import ROOT, SAMPLES

CLASSROOM = ROOT / ".github" / "classroom" / "autograding.yml"
FAN_OUT = ROOT / ".github" / "fan-out" / "grade-cohort.yml"
# Steps whose id starts with this prepare a GitHub runner; the local run skips them.
SETUP_PREFIX = "setup-"
# The first major version of each action that runs on Node 24 (GitHub removed Node 20 from its runners).
NODE24_MAJORS = {"actions/checkout": 5, "actions/setup-python": 6, "actions/upload-artifact": 6, "actions/download-artifact": 7}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def classroom_steps() -> list[dict]:
    return load(CLASSROOM)["jobs"]["run-autograding-tests"]["steps"]


def all_steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def run_scripts(workflow: dict) -> list[str]:
    return [step["run"] for step in all_steps(workflow) if "run" in step]


def index(steps: list[dict], matches) -> int:
    """Position of the only step that `matches`."""
    found = [i for i, step in enumerate(steps) if matches(step)]
    assert len(found) == 1, f"expected one matching step, found {len(found)}"
    return found[0]


def uses(step: dict, action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


def runs(step: dict, pattern: str) -> bool:
    return re.search(pattern, step.get("run", "")) is not None


def test_classroom_workflow_triggers_name_and_job():
    workflow = load(CLASSROOM)
    # Quoted in the file: PyYAML (YAML 1.1) would read a bare `on` as True.
    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    assert workflow["name"] == "Autograding Tests"  # what Classroom looked for
    assert list(workflow["jobs"]) == ["run-autograding-tests"]
    job = workflow["jobs"]["run-autograding-tests"]
    assert job["runs-on"] == "ubuntu-24.04"
    assert job["defaults"]["run"]["shell"] == "bash"
    assert workflow["env"]["NOTEBOOK"] == "activation_maxpool.ipynb"


def test_classroom_workflow_steps_in_order():
    steps = classroom_steps()
    order = [
        index(steps, lambda s: uses(s, "actions/checkout") and "repository" not in s.get("with", {})),
        index(steps, lambda s: uses(s, "actions/checkout") and "repository" in s.get("with", {})),
        index(steps, lambda s: uses(s, "actions/setup-python")),
        index(steps, lambda s: runs(s, r"sudo apt-get install -y .*\bbubblewrap\b")),
        index(steps, lambda s: runs(s, r"sudo sysctl -w kernel\.apparmor_restrict_unprivileged_userns=0")),
        index(steps, lambda s: runs(s, r"pip install\b")),
        index(steps, lambda s: runs(s, r"autograder grade \"\$NOTEBOOK\" --results ")),
        index(steps, lambda s: runs(s, r"autograder classroom .*--summary \"\$GITHUB_STEP_SUMMARY\"")),
        index(steps, lambda s: runs(s, r"autograder classroom .*--points")),
        index(steps, lambda s: uses(s, "actions/upload-artifact")),
    ]
    assert order == sorted(order), order
    assert steps[0]["id"] == "setup-config"  # a grader that is not configured stops everything first


def test_grader_is_checked_out_at_a_pinned_ref_with_a_token():
    grader = next(s for s in classroom_steps() if s.get("id") == "setup-grader")
    assert grader["with"]["repository"] == "${{ vars.AUTOGRADER_REPOSITORY }}"
    assert grader["with"]["ref"] == "${{ vars.AUTOGRADER_REF }}"
    assert grader["with"]["token"] == "${{ secrets.AUTOGRADER_TOKEN }}"
    assert grader["with"]["persist-credentials"] is False
    config = classroom_steps()[0]
    assert config["id"] == "setup-config" and "{40}" in config["run"]  # a full commit SHA, nothing movable


def test_python_is_311_and_torch_comes_pinned_from_the_cpu_index():
    for workflow in (load(CLASSROOM), load(FAN_OUT)):
        pythons = [s for s in all_steps(workflow) if uses(s, "actions/setup-python")]
        assert pythons and all(s["with"]["python-version"] == "3.11" for s in pythons)  # a string, not the float 3.11
        installs = [line for script in run_scripts(workflow) for line in _joined(script) if "pip install" in line]
        assert installs
        for line in installs:
            assert re.search(r" -c \S*constraints\.txt", line), line
            assert "--extra-index-url https://download.pytorch.org/whl/cpu" in line
            assert not re.search(r"(?<![\w.])torch(?!==)", line), line  # no bare `torch` requirement
    assert "torch==2.13.0\n" in (ROOT / "constraints.txt").read_text(encoding="utf-8")


def test_no_step_hides_a_failure():
    for workflow in (load(CLASSROOM), load(FAN_OUT)):
        for job in workflow["jobs"].values():
            assert "continue-on-error" not in job
            for step in job["steps"]:
                assert "continue-on-error" not in step
                assert not re.search(r"\|\|\s*(true|:)\b", step.get("run", "")), step.get("run")


def test_classroom_grade_step_always_leads_to_a_summary_and_points():
    steps = {s.get("id"): s for s in classroom_steps()}
    assert "if" not in steps["grade"]  # grading never runs after a failed set-up
    for later in ("summary", "points", "artifact"):
        assert steps[later]["if"] == "${{ !cancelled() }}"  # ...but the student always hears why there is no grade
    assert "GITHUB_STEP_SUMMARY" in steps["summary"]["run"] and "exit 1" in steps["summary"]["run"]


def test_run_scripts_take_values_from_env_not_expressions():
    for workflow in (load(CLASSROOM), load(FAN_OUT)):
        for script in run_scripts(workflow):
            assert "${{" not in script, script


@pytest.mark.parametrize("path", [CLASSROOM, FAN_OUT], ids=["classroom", "fan-out"])
def test_every_run_script_is_valid_bash(path, tmp_path):
    for number, script in enumerate(run_scripts(load(path))):
        file = tmp_path / f"step{number}.sh"
        file.write_text(script, encoding="utf-8")
        checked = subprocess.run(["bash", "-n", str(file)], capture_output=True, text=True)
        assert checked.returncode == 0, f"{script}\n{checked.stderr}"


def test_actions_run_on_node_24():
    for workflow in (load(CLASSROOM), load(FAN_OUT)):
        for step in all_steps(workflow):
            if "uses" in step:
                action, version = step["uses"].split("@")
                assert int(version.lstrip("v")) >= NODE24_MAJORS[action], step["uses"]


def test_fan_out_workflow_plans_grades_in_a_matrix_then_collects():
    workflow = load(FAN_OUT)
    assert set(workflow["on"]) == {"workflow_dispatch"}
    assert {"submissions", "submissions-ref", "jobs"} <= set(workflow["on"]["workflow_dispatch"]["inputs"])
    assert list(workflow["jobs"]) == ["plan", "grade", "collect"]
    plan, grade, collect = (workflow["jobs"][name] for name in ("plan", "grade", "collect"))

    assert any(runs(s, r"no submissions") and runs(s, r"exit 1") for s in plan["steps"])  # never a green run with nothing graded
    assert grade["needs"] == "plan"
    assert grade["strategy"]["matrix"]["chunk"] == "${{ fromJSON(needs.plan.outputs.chunks) }}"
    assert grade["strategy"]["fail-fast"] is False
    steps = grade["steps"]
    order = [
        index(steps, lambda s: uses(s, "actions/setup-python")),
        index(steps, lambda s: runs(s, r"apt-get install -y .*\bbubblewrap\b")),
        index(steps, lambda s: runs(s, r"sysctl -w kernel\.apparmor_restrict_unprivileged_userns=0")),
        index(steps, lambda s: runs(s, r"pip install\b")),
        index(steps, lambda s: runs(s, r'autograder grade "\$notebook" --results "results/\$ASSIGNMENT/\$student\.json"')),
        index(steps, lambda s: uses(s, "actions/upload-artifact") and s["with"]["name"] == "results-${{ matrix.chunk }}"),
    ]
    assert order == sorted(order), order

    assert collect["needs"] == ["plan", "grade"]
    steps = collect["steps"]
    download = index(steps, lambda s: uses(s, "actions/download-artifact"))
    assert steps[download]["with"] == {"pattern": "results-*", "merge-multiple": True, "path": "results/${{ env.ASSIGNMENT }}"}
    export = index(steps, lambda s: runs(s, r"autograder export --format both") and runs(s, r"autograder report"))
    check = index(steps, lambda s: runs(s, r"have no results file"))
    assert download < export < check


def _joined(script: str) -> list[str]:
    """A script's lines with backslash continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def local_steps() -> list[dict]:
    """The Classroom workflow's grading steps: those with a `run:` script and an id not starting with `setup-`."""
    return [s for s in classroom_steps() if "run" in s and not str(s.get("id", "")).startswith(SETUP_PREFIX)]


def venv_bin() -> Path:
    """The bin/ of the environment running pytest, where `autograder` is installed (not resolved: a venv's python is a link)."""
    folder = Path(sys.executable).parent
    if not (folder / "autograder").is_file():
        pytest.fail(f"no `autograder` command next to {sys.executable}: install the package (pip install -e .)")
    return folder


def run_locally(tmp_path: Path, notebook: bytes, path: str) -> tuple[dict[str, subprocess.CompletedProcess[str]], Path]:
    """Run the grading steps as a GitHub runner would, in a student repository holding `notebook`.

    Steps run in order with bash; after a failure, only steps marked `if: ${{ !cancelled() }}` still run. Returns
    each step's completed process by id, and the step summary file.
    """
    workflow = load(CLASSROOM)
    repo, runner_temp = tmp_path / "student-repo", tmp_path / "runner-temp"
    repo.mkdir(), runner_temp.mkdir()
    (repo / workflow["env"]["NOTEBOOK"]).write_bytes(notebook)
    (repo / workflow["env"]["AUTOGRADER_COURSE"]).symlink_to(ROOT, target_is_directory=True)
    summary = tmp_path / "step-summary.md"
    summary.touch()
    env = {
        **os.environ,
        **{name: str(value) for name, value in workflow["env"].items()},
        "PATH": path,
        "PYTHONPATH": str(ROOT),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(runner_temp),
    }
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    failed = False
    for step in local_steps():
        if failed and step.get("if") != "${{ !cancelled() }}":
            continue
        script, outputs = tmp_path / f"{step['id']}.sh", tmp_path / f"{step['id']}.outputs"
        script.write_text(step["run"], encoding="utf-8")
        outputs.touch()
        done[step["id"]] = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=repo, env={**env, "GITHUB_OUTPUT": str(outputs)}, capture_output=True, text=True, timeout=300,
        )
        failed = failed or done[step["id"]].returncode != 0
    return done, summary


@pytest.mark.e2e
def test_classroom_workflow_steps_run_locally_in_order(tmp_path):
    """Run the Classroom workflow's grading steps in order, with bash as GitHub runs them, on a student repository.

    Not run here: the `uses:` steps (checkouts, setup-python, upload-artifact) and the `run:` steps whose id starts
    with `setup-` (configuration check, apt-get install bubblewrap, sysctl, pip install). They prepare a GitHub
    runner; this machine is prepared already: bubblewrap is installed and the grader is installed in the
    environment running pytest, whose bin/ goes first on PATH (with this checkout first on PYTHONPATH, so the
    `autograder` command runs the code under test). The grader checkout, `.autograder`, is a link to this
    repository. GITHUB_STEP_SUMMARY, GITHUB_OUTPUT and RUNNER_TEMP point into a temporary directory.
    """
    path = f"{venv_bin()}{os.pathsep}{os.environ['PATH']}"
    done, summary = run_locally(tmp_path, (SAMPLES / "solution.ipynb").read_bytes(), path)

    assert list(done) == ["grade", "summary", "points"]
    for step, completed in done.items():
        assert completed.returncode == 0, f"step {step} failed:\n{completed.stdout}\n{completed.stderr}"
    results = tmp_path / "runner-temp" / "autograder" / "results.json"
    assert GradingResult.read(results).score == 22
    assert re.search(r"^total\s+22 / 22", done["grade"].stdout, re.MULTILINE)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## Calificación automática: 22 / 22 puntos") and "| **Total** | **22 / 22** |" in text
    assert "::notice title=Autograding complete::Points 22/22" in done["points"].stdout
    assert (tmp_path / "points.outputs").read_text(encoding="utf-8") == "points=22\nmax-points=22\ngraded=true\n"


def test_an_ungradable_notebook_fails_the_job_and_the_summary_says_why(tmp_path):
    """The same local run (see above) on an empty notebook: no kernel starts, so this is quick."""
    path = f"{venv_bin()}{os.pathsep}{os.environ['PATH']}"
    done, summary = run_locally(tmp_path, b"", path)
    assert {step: c.returncode for step, c in done.items()} == {"grade": 2, "summary": 2, "points": 2}
    assert "el archivo está vacío" in done["grade"].stderr
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## Calificación automática: 0 / 22 puntos")
    assert "**No se pudo calificar el cuaderno:**" in text and "el archivo está vacío" in text
    assert "::notice title=Autograding complete::Points 0/22" in done["points"].stdout


def test_without_the_grader_installed_the_job_fails_and_the_summary_says_why(tmp_path):
    """The same local run (see above) where the install step failed: no `autograder` command at all."""
    done, summary = run_locally(tmp_path, (SAMPLES / "blank.ipynb").read_bytes(), "/usr/bin:/bin")
    assert {step: c.returncode for step, c in done.items()} == {"grade": 127, "summary": 1, "points": 1}
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("## Calificación automática: sin calificar") and "no llegó a instalarse" in text
    assert "::error title=Autograding::no points" in done["points"].stdout

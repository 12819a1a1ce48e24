"""The GitHub Actions workflow that builds, tests and publishes the book (.github/workflows/book.yml), checked offline.

It is validated against GitHub's workflow schema (check-jsonschema's built-in copy, no network), runs README's own
quick-start commands in README's order, and publishes `_build/html` to GitHub Pages with GitHub's artifact actions,
from main only. It names no repository: _config.yml stays the one place that does (a fork changes that one setting).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BOOK = ROOT / ".github" / "workflows" / "book.yml"


def _workflow(path: Path = BOOK) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _validate(*paths: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert exe, "check-jsonschema is missing: pip install -r requirements.txt"
    return subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def _readme_commands() -> list[str]:
    """README's quick-start commands (its first bash block), without their comments."""
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)[1]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def _run_lines(job: dict) -> list[str]:
    lines = []
    for step in job["steps"]:
        for line in step.get("run", "").splitlines():
            lines += [part.strip() for part in line.split(" && ") if part.strip() != ". .venv/bin/activate"]
    return lines


def test_workflows_match_githubs_schema() -> None:
    assert WORKFLOWS == [BOOK], WORKFLOWS
    result = _validate(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = _workflow()
    del broken["jobs"]["build"]["runs-on"]
    broken["jobs"]["deploy"]["steps"][0]["uses"] = 3
    path = tmp_path / "broken.yml"
    path.write_text(yaml.safe_dump(broken))
    result = _validate(path)
    assert result.returncode != 0 and "runs-on" in result.stdout + result.stderr, result.stdout


def test_workflow_runs_readmes_commands_in_order() -> None:
    commands = _readme_commands()
    assert len(commands) == 4 and commands[-1] == "python -m pytest", commands
    run = _run_lines(_workflow()["jobs"]["build"])
    # Command 0 is two commands on one line; each must be run, in README's order.
    wanted = [part for command in commands for part in command.split(" && ") if part != ". .venv/bin/activate"]
    positions = [run.index(part) if part in run else -1 for part in wanted]
    missing = [part for part, position in zip(wanted, positions, strict=True) if position < 0]
    assert not missing, f"README commands missing from the workflow: {missing}"
    assert positions == sorted(positions), f"README's order: {wanted}"
    assert "python tools/build_pdf.py" in run, "the PDF is built with README's command"
    assert run.index("python tools/build_pdf.py") < run.index("jupyter-book build . --warningiserror --keep-going"), (
        "the PDF first: the HTML build links it only when it exists")


def test_workflow_publishes_the_html_to_pages_from_main_only() -> None:
    workflow = _workflow()
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    uses = {step["uses"].split("@")[0]: step for step in build["steps"] if "uses" in step}
    assert {"actions/checkout", "actions/configure-pages", "actions/upload-pages-artifact"} <= set(uses), uses
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_build/html"
    assert [step["uses"].split("@")[0] for step in deploy["steps"]] == ["actions/deploy-pages"]
    assert deploy["needs"] == "build" and deploy["if"] == "github.ref == 'refs/heads/main'"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert workflow["permissions"] == {"contents": "read"}
    assert build["permissions"] == {"contents": "read", "pages": "read"}, "the build job gets no write permission"
    assert "main" in workflow["on"]["push"]["branches"] and "pull_request" in workflow["on"]


def test_workflow_names_no_repository() -> None:
    """_config.yml's `repository: url:` is the one setting a fork changes; the workflow must not repeat it."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    owner_repo = url.removeprefix("https://github.com/")
    assert owner_repo not in BOOK.read_text()
    assert "github.io" not in BOOK.read_text().split("\n", 3)[-1], "the Pages address comes from deploy-pages"


@pytest.mark.parametrize("command", ["python -m ruff check .", "python tools/vendor_assets.py --check"])
def test_workflow_checks_what_ci_checks(command: str) -> None:
    assert command in (ROOT / ".ci" / "run").read_text()
    assert command in _run_lines(_workflow()["jobs"]["build"])

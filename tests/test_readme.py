"""Every shell command the README and the intro chapter show, run at reduced size, so the docs cannot drift.

Each line of a ```bash block is one test. The only changes made to a line are sizes (epochs,
training and test subsets, seeds: the first seed only) and where it writes (a temporary working
folder, a temporary output notebook, ``MIXACT_RESULTS_DIR``, a temporary copy of ``results/``).
Lines that cannot run here say why in ``NOT_RUN``; a line that is neither run nor listed there
fails, so a new command in the docs gets a test or a reason.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", ROOT / "book" / "intro.md")
BIN = Path(sys.executable).parent  # the virtual environment's bin/: `source .venv/bin/activate` in effect

#: commands shown but not run here, each with the reason
NOT_RUN = {
    "make book": "the README's setup-and-build command: tests/test_book.py builds the same book",
    "make test": "the README's test command: it is what runs this test",
    "source .venv/bin/activate": "every line here runs with the virtual environment's bin/ first on PATH",
    "python tools/build_book.py --profile quick": "what `make book` runs: tests/test_book.py builds it",
    "python tools/build_book.py --profile paper": "the paper profile needs a GPU and MNIST/KMNIST/CIFAR",
    "python -m mixact_lib sweep grids/paper_b_paper_scale/tables.yaml": "CIFAR-10 at paper scale needs a GPU",
    "python -m mixact_lib sweep grids/paper_b_paper_scale/tables_cifar100.yaml": "CIFAR-100 at paper scale needs a GPU",
}
#: size flags and what they become
PAPERMILL_SIZES = {"epochs": "1", "train_subset": "300", "test_subset": "200"}
CLI_SIZES = {"--epochs": "1", "--train-subset": "300", "--test-subset": "200"}


def shell_lines() -> list[tuple[str, str]]:
    """(doc name, command) for every non-empty line of every ```bash block, comments removed."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"```bash\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                tokens = shlex.split(line, comments=True)
                if tokens and shlex.join(tokens) not in {line for _, line in found}:
                    found.append((doc.name, shlex.join(tokens)))  # a command shown twice runs once
    return found


LINES = shell_lines()


def first_seed(value: str) -> str:
    """``"[0, 1, 2]"`` → ``"[0]"``, ``"0,1,2"`` → ``"0"``: the same notation, one seed."""
    bracketed = value.strip().startswith("[")
    first = value.strip().strip("[]").split(",")[0].strip()
    return f"[{first}]" if bracketed else first


def reduce(tokens: list[str], tmp: Path) -> list[str]:
    """The command at reduced size, writing only under ``tmp``."""
    tokens = list(tokens)
    if tokens[0] == "papermill":
        tokens[0] = str(BIN / "papermill")
        if "--help-notebook" not in tokens:
            tokens[2] = str(tmp / "out.ipynb")  # papermill NOTEBOOK OUTPUT ...
        for i, token in enumerate(tokens[:-2]):
            if token == "-p" and tokens[i + 1] in PAPERMILL_SIZES:
                tokens[i + 2] = PAPERMILL_SIZES[tokens[i + 1]]
            elif token == "-p" and tokens[i + 1] == "seeds":
                tokens[i + 2] = first_seed(tokens[i + 2])
        return tokens
    if tokens[0] == "python":
        tokens[0] = sys.executable
        for i, token in enumerate(tokens[:-1]):
            if token in CLI_SIZES:
                tokens[i + 1] = CLI_SIZES[token]
        if tokens[1:4] == ["-m", "mixact_lib", "run"] and "--help" not in tokens:
            tokens += [flag_value for flag, value in CLI_SIZES.items() if flag not in tokens
                       for flag_value in (flag, value)]  # the full training set becomes a subset
        if tokens[1] == "tools/reproduce.py":
            if "--seeds" in tokens:
                i = tokens.index("--seeds") + 1
                while i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                    del tokens[i + 1]
            tokens += ["--results", str(tmp / "results")]  # a copy: committed runs are read, never written
        return tokens
    raise AssertionError(f"no rule to run {shlex.join(tokens)!r}: add one to tests/test_readme.py, "
                         "or list it in NOT_RUN with the reason")


def test_every_line_not_run_is_still_in_the_docs():
    shown = {line for _, line in LINES}
    assert set(NOT_RUN) <= shown, f"NOT_RUN lists commands the docs no longer show: {set(NOT_RUN) - shown}"


@pytest.mark.parametrize("doc, line", LINES, ids=[f"{d}: {line[:70]}" for d, line in LINES])
def test_documented_command_runs(doc, line, tmp_path):
    if line in NOT_RUN:
        pytest.skip(NOT_RUN[line])
    work = tmp_path / "work"  # the repository's files, seen from a folder where relative outputs land
    work.mkdir()
    for name in ("book", "grids", "tools", "mixact_lib"):
        (work / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "results", tmp_path / "results")
    command = reduce(shlex.split(line), tmp_path)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "MIXACT_RESULTS_DIR": str(tmp_path / "chapter-results"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{doc}: {line}\nran: {shlex.join(command)}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    if "--help-notebook" in line:
        assert "Unknown type" not in r.stdout and "(default" in r.stdout, r.stdout
    if line.startswith("papermill book/"):
        assert list((tmp_path / "chapter-results").rglob("parameters.json")), "the chapter wrote no results folder"
    if "tools/reproduce.py --table" in line:  # the committed table is what the committed runs give
        assert (tmp_path / "results" / "reproduction.csv").read_bytes() == (ROOT / "results" / "reproduction.csv").read_bytes()
    elif "tools/reproduce.py" in line:
        assert ": best " in r.stdout, f"reproduce.py made or read no run:\n{r.stdout}\n{r.stderr[-2000:]}"

"""The book's sources: parameter cells, shared names, clean notebooks, profiles, environment files."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from mixact_lib.report.parameters import parse_parameter

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
SHARED = ("profile", "seeds", "device", "results_dir")  # in every chapter
TRAINING = ("dataset", "epochs", "train_subset", "test_subset")  # in every chapter that trains
TRAINING_CHAPTERS = ("paper_a", "paper_b", "paper_c", "comparison")
ALLOWED_IMPORTS = {"mixact_lib", "pandas", "numpy", "matplotlib", "seaborn", "IPython", "pathlib", "json", "myst_nb",
                   "torch", "torchvision"}  # torchvision: a reader's own model, into which mixact swaps activations


def cells(nb: Path) -> list[dict]:
    return json.loads(nb.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def parameter_names(nb: Path) -> list[str]:
    code = [c for c in cells(nb) if c["cell_type"] == "code"]
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), f"{nb.name}: first code cell not tagged"
    tree = ast.parse(source(code[0]))
    return [n.target.id for n in tree.body if isinstance(n, ast.AnnAssign)]


def test_every_toc_chapter_exists():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for c in toc["chapters"]]
    assert len(files) == 7
    for f in files:
        assert (ROOT / f"{f}.ipynb").exists() or (ROOT / f"{f}.md").exists(), f
    assert {p.stem for p in NOTEBOOKS} == {Path(f).name for f in files[1:]}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_first_literals_only_with_shared_names(nb):
    names = parameter_names(nb)
    required = SHARED + (TRAINING if nb.stem in TRAINING_CHAPTERS else ())
    missing = [n for n in required if n not in names]
    assert not missing, f"{nb.name} lacks shared parameters {missing}"
    code = next(c for c in cells(nb) if c["cell_type"] == "code")
    for node in ast.parse(source(code)).body:
        assert isinstance(node, ast.AnnAssign), f"{nb.name}: {ast.unparse(node)!r} is not name: \"type\" = value"
        ast.literal_eval(node.value)  # literals only: papermill can override and document each
        declared = ast.literal_eval(node.annotation)  # a string, so papermill shows it and no import is needed
        parse_parameter(node.target.id, ast.literal_eval(node.value), declared)  # the default fits its type
    for line in source(code).splitlines():
        if line.strip() and not line.startswith("#"):
            assert "  # " in line, f"{nb.name}: parameter line without a comment: {line!r}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(nb):
    for c in cells(nb):
        if c["cell_type"] == "code":
            assert not c.get("outputs") and c.get("execution_count") is None, f"{nb.name} has outputs"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_import_only_the_library_and_plotting(nb):
    for c in cells(nb):
        if c["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse(source(c))):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module]
            else:
                continue
            for m in mods:
                assert m.split(".")[0] in ALLOWED_IMPORTS, f"{nb.name} imports {m}"
        text = source(c)
        assert not re.search(r"^\s*(def train|class \w+\(nn\.Module\)|for .* in .*batches\()", text, re.M), \
            f"{nb.name} defines training or activations itself; that belongs in mixact_lib"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_has_a_label(nb):
    first = source(cells(nb)[0])
    assert re.match(r"\(\S+\)=", first), f"{nb.name} does not start with a (label)= target"


def test_profiles_only_set_known_parameters():
    for profile in (BOOK / "profiles").glob("*.yaml"):
        spec = yaml.safe_load(profile.read_text())
        for stem, params in spec.items():
            names = parameter_names(BOOK / f"{stem}.ipynb")
            unknown = set(params or {}) - set(names)
            assert not unknown, f"{profile.name}: {stem} has no parameters {sorted(unknown)}"


def test_parameter_table_in_intro_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "param_table.py"), "--check"], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _names(pip) == _names(declared)
    assert sorted(pip) == sorted(declared), "versions differ between environment.yml and pyproject.toml"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_help_notebook_shows_every_parameter_with_its_type(nb):
    papermill = Path(sys.executable).with_name("papermill")
    r = subprocess.run([str(papermill), "--help-notebook", str(nb)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "Unknown type" not in r.stdout, r.stdout
    shown = re.findall(r"^  (\w+): (\S+) \(default", r.stdout, re.M)
    assert [name for name, _ in shown] == parameter_names(nb), r.stdout


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_setup_cell_converts_parameters_and_derives_the_results_folder(nb):
    setup = source([c for c in cells(nb) if c["cell_type"] == "code"][1])
    assert "mx.chapter_parameters(globals())" in setup, f"{nb.name}: parameters given as text are not converted"
    assert "mx.results_folder(params" in setup, f"{nb.name}: results folder not derived from the parameters"


#: issue 30: notebooks hold prose, parameters and calls; what a chapter prints comes from report/chapters/
MAX_CODE_LINES = 700
MAX_LONG_CELLS = 5
LONG_CELL = 15


def code_budget(notebooks: list[Path]) -> tuple[int, list[str]]:
    """Code lines across ``notebooks`` (parameters cells aside) and the cells over :data:`LONG_CELL` lines."""
    total, long_cells = 0, []
    for nb in notebooks:
        for cell in cells(nb):
            if cell["cell_type"] != "code" or "parameters" in cell.get("metadata", {}).get("tags", []):
                continue
            n = len(source(cell).splitlines())
            total += n
            if n > LONG_CELL:
                long_cells.append(f"{nb.name}:{cell.get('id')} ({n} lines)")
    return total, long_cells


def test_notebooks_are_thin():
    total, long_cells = code_budget(NOTEBOOKS)
    assert total <= MAX_CODE_LINES, (f"the notebooks hold {total} code lines (at most {MAX_CODE_LINES}): move the "
                                     "assembly of tables and sentences into mixact_lib/report/chapters/<notebook>.py")
    assert len(long_cells) <= MAX_LONG_CELLS, f"cells over {LONG_CELL} lines: {long_cells}"


def test_the_budget_counts_a_long_cell(tmp_path):
    """The control: a notebook with one 20-line cell and a long parameters cell counts 20 lines and one long cell."""
    nb = tmp_path / "x.ipynb"
    nb.write_text(json.dumps({"cells": [
        {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "source": ["a = 1\n"] * 30},
        {"cell_type": "code", "id": "c", "metadata": {}, "source": ["print(1)\n"] * 20},
        {"cell_type": "markdown", "id": "m", "metadata": {}, "source": ["text\n"] * 40}]}))
    assert code_budget([nb]) == (20, ["x.ipynb:c (20 lines)"])

"""Chapter parameters given as text (papermill -p) and the results folder derived from them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mixact_lib.report.parameters import (ParameterError, chapter_parameters, parameters_key, parse_parameter,
                                   results_folder)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value, declared, expected", [
    ("[0, 1, 2]", "list[int]", [0, 1, 2]),            # the README's -p seeds "[0, 1, 2]"
    ("0,1,2", "list[int]", [0, 1, 2]),
    (" 0, 1 ,2 ", "list[int]", [0, 1, 2]),
    (3, "list[int]", [3]),                             # papermill turns "3" into an int: one item
    ((0, 1), "list[int]", [0, 1]),
    ('["abs"]', "list[str]", ["abs"]),                 # the intro's -p norms '["abs"]'
    ("abs,square", "list[str]", ["abs", "square"]),
    ('"abs", "square"', "list[str]", ["abs", "square"]),
    ("abs", "list[str]", ["abs"]),
    ("[0.5, 2]", "list[float]", [0.5, 2.0]),
    ('{"channels": [16, 32]}', "dict", {"channels": [16, 32]}),
    ("{'channels': [16, 32]}", "dict", {"channels": [16, 32]}),
    ("{}", "dict", {}),
    (None, "Optional[int]", None),
    ("None", "Optional[int]", None),
    ("3000", "Optional[int]", 3000),
    ("None", "Optional[list[int]]", None),
    ("null", "Optional[list[int]]", None),
    ("[1, 2]", "Optional[list[int]]", [1, 2]),
    ("1,2", "list[int] | None", [1, 2]),
    (1, "float", 1.0),
    ("1e-3", "float", 0.001),
    (15, "int", 15),
    (2.0, "int", 2),
    ("False", "bool", False),
    ("true", "bool", True),
    ("fmnist", "str", "fmnist"),
])
def test_values_given_as_text_become_their_declared_type(value, declared, expected):
    got = parse_parameter("p", value, declared)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("name, value, declared, fragment", [
    ("seeds", "[0, 1,", "list[int]", '-p seeds "[0, 1, 2]" or -p seeds 0,1,2'),
    ("seeds", "a,b", "list[int]", "a list of int"),
    ("seeds", "[0.5]", "list[int]", "a list of int"),
    ("seeds", True, "list[int]", "a list of int"),
    ("norms", '{"a": 1}', "list[str]", "not a list"),
    ("model_kwargs", "[16, 32]", "dict", "-p model_kwargs '{\"channels\": [16, 32]}'"),
    ("model_kwargs", "{channels: 1}", "dict", "must be a dict"),
    ("train_subset", "lots", "Optional[int]", "-p train_subset None"),
    ("epochs", 2.5, "int", "must be an int"),
    ("train_missing", "maybe", "bool", "True or False"),
])
def test_a_wrong_value_names_the_parameter_and_gives_an_example(name, value, declared, fragment):
    with pytest.raises(ParameterError) as info:
        parse_parameter(name, value, declared)
    message = str(info.value)
    assert f"parameter {name!r}" in message and "for example" in message and fragment in message
    assert "\n" not in message
    assert info.value._render_traceback_() == [f"ParameterError: {message}"]  # one line in a notebook


def test_unknown_declared_type_is_refused():
    with pytest.raises(ValueError, match="unsupported parameter type"):
        parse_parameter("x", "1", "tuple[int]")


def test_chapter_parameters_convert_the_namespace_in_place():
    namespace = {"__annotations__": {"seeds": "list[int]", "model_kwargs": "dict", "profile": "str"},
                 "seeds": "[0, 1]", "model_kwargs": '{"channels": [8]}', "profile": "quick", "other": "[1]"}
    params = chapter_parameters(namespace)
    assert params == {"seeds": [0, 1], "model_kwargs": {"channels": [8]}, "profile": "quick"}
    assert namespace["seeds"] == [0, 1] and namespace["other"] == "[1]"  # only declared parameters change
    with pytest.raises(ParameterError, match="no annotated parameters"):
        chapter_parameters({"seeds": [0]})


def test_results_folder_is_one_per_set_of_parameters(tmp_path, monkeypatch):
    monkeypatch.delenv("MIXACT_RESULTS_DIR", raising=False)
    build = {"profile": "quick", "seeds": [0], "epochs": 2, "results_dir": None, "device": "cpu"}
    rerun = {**build, "seeds": [0, 1, 2], "epochs": 15}
    a = results_folder(build, "paper_c", base=tmp_path)
    b = results_folder(rerun, "paper_c", base=tmp_path)
    assert a != b and a.parent == b.parent == tmp_path / "quick" / "paper_c"
    assert json.loads((b / "parameters.json").read_text())["seeds"] == [0, 1, 2]
    assert results_folder({**build, "device": "cuda"}, "paper_c", base=tmp_path) == a  # same runs, other device
    assert results_folder(dict(build), "paper_c", base=tmp_path) == a  # the same parameters find the same runs
    assert parameters_key(build) == parameters_key({**build, "profile": "paper"})
    chosen = results_folder(rerun, "paper_c", folder=tmp_path / "mine")
    assert chosen == tmp_path / "mine" and (chosen / "parameters.json").exists()
    monkeypatch.setenv("MIXACT_RESULTS_DIR", str(tmp_path / "elsewhere"))
    assert results_folder(build, "paper_c").parent == tmp_path / "elsewhere" / "quick" / "paper_c"


def test_a_wrong_value_in_a_notebook_ends_in_one_line(tmp_path):
    """papermill with a value that cannot be a list: the chapter stops at its setup cell, saying why."""
    papermill = Path(sys.executable).with_name("papermill")
    r = subprocess.run([str(papermill), str(ROOT / "book" / "paper_b_derivation.ipynb"), str(tmp_path / "out.ipynb"),
                        "--cwd", str(ROOT / "book"), "-p", "seeds", "[0, 1,", "-p", "results_dir", str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    nb = json.loads((tmp_path / "out.ipynb").read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o["output_type"] == "error"]
    assert len(errors) == 1 and errors[0]["ename"] == "ParameterError"
    assert errors[0]["traceback"] == [f"ParameterError: {errors[0]['evalue']}"]
    assert "parameter 'seeds'" in errors[0]["evalue"] and '-p seeds "[0, 1, 2]"' in errors[0]["evalue"]

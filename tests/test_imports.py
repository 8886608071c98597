"""No import circles inside mixact_lib, and stages that import only the stages before them (ARCHITECTURE.md).

The graph is built from the source with :mod:`ast`, without importing anything: an edge A → B for
every ``import``/``from ... import`` in module A that names module B of the package. Imports inside
functions count too — a deferred import hides a circle from Python but not from a reader — except
those under ``if TYPE_CHECKING:``, which never run. ``from . import x`` counts as importing the
submodule ``x`` when ``x`` is one, and ``from .pkg import name`` as importing ``pkg`` (its
``__init__``) and, where ``name`` is a submodule, ``pkg.name`` as well. The implicit import of a
parent package that Python performs before any submodule is not an edge: every package would then
be in a circle with its own children.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "mixact_lib"

#: module paths of the data layer before it moved into mixact_lib/data/ (issue 14); no aliases are kept
OLD_DATA_PATHS = ("mixact_lib.datasets_io", "mixact_lib.miniimagenet_io", "mixact_lib.detection_data")


def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted name → file for every module of the package rooted at ``package_dir``."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST):
    """Every Import/ImportFrom node, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        children = list(ast.iter_child_nodes(node))
        if isinstance(node, ast.If) and _is_type_checking(node):
            children = node.orelse
        stack.extend(children)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """Absolute name of what ``from <node.module> import ...`` imports from, in ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]  # a package's `.` is itself
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module → the package's modules it imports (see the module docstring for what counts)."""
    modules = module_files(package_dir)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in _import_nodes(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = _resolve(name, is_package, node)
                targets = [f"{source}.{alias.name}" for alias in node.names]
                # `from . import b` in pkg.a only touches pkg's __init__ as the implicit parent import;
                # any name that is not a submodule does depend on what that __init__ defines
                if not name.startswith(source + ".") or any(t not in modules for t in targets):
                    targets.append(source)
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle as [a, b, ..., a], or None; depth-first search with the usual three colours."""
    state: dict[str, int] = {}  # absent: unvisited, 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_graph_sees_relative_imports_and_submodules(tmp_path):
    # a negative control: a known circle, through `from . import x` and a deferred import, is found
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("from . import b\ndef f():\n    pass\n")
    (pkg / "b.py").write_text("def g():\n    from .sub import c\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import b\n"
                                      "from ..a import f\n")
    (pkg / "d.py").write_text("from . import f\n")
    graph = import_graph(pkg)
    assert graph["pkg"] == {"pkg.a"}
    assert graph["pkg.a"] == {"pkg.b"}  # `from . import b`: the submodule, not the parent's __init__
    assert graph["pkg.b"] == {"pkg.sub", "pkg.sub.c"}  # deferred, inside g, still an edge
    assert graph["pkg.sub.c"] == {"pkg.a"}  # the TYPE_CHECKING import of b is not an edge
    assert graph["pkg.d"] == {"pkg"}  # `from . import f`: f is a name in pkg/__init__.py
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]
    del graph["pkg.sub.c"]
    assert find_cycle(graph) is None


def test_no_import_cycles():
    graph = import_graph(PACKAGE_DIR)
    assert "mixact_lib.activations.registry" in graph  # the walk found the package
    cycle = find_cycle(graph)
    if cycle:
        pytest.fail("import circle in mixact_lib: " + " → ".join(cycle)
                    + "\nMove what both modules need into a third module that both import, so the "
                      "imports go one way.")


def test_old_data_paths_are_gone():
    """A project nobody imports yet keeps no backwards-compatibility aliases (STYLE.md)."""
    for old in OLD_DATA_PATHS:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(old)


#: ARCHITECTURE.md's stages, in the order the data flows; a module may import its own stage or earlier ones
STAGES = {
    "core": ("activations", "data", "models", "training", "_version"),
    "runs": ("runs", "cli", "__main__"),
    "analysis": ("analysis",),
    "studies": ("studies",),
    "report": ("report",),
}
#: back-imports allowed, each with its reason; none today (issue 30 removed the last), and no new one may appear
KNOWN_BACK_IMPORTS: dict[tuple[str, str], str] = {}


def stage_of(module: str) -> int | None:
    """Index of a module's stage in :data:`STAGES` (None for the package's own ``__init__``, which re-exports)."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    for i, names in enumerate(STAGES.values()):
        if parts[1] in names:
            return i
    raise AssertionError(f"{module} is in no stage of ARCHITECTURE.md: add it to STAGES here and to the document")


def back_imports(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) pairs where a module imports a later stage."""
    found = set()
    for module, deps in graph.items():
        own = stage_of(module)
        for dep in deps:
            theirs = stage_of(dep)
            if own is not None and theirs is not None and theirs > own:
                found.add((module, dep))
    return found


def test_stages_import_only_earlier_stages():
    found = back_imports(import_graph(PACKAGE_DIR))
    new = found - set(KNOWN_BACK_IMPORTS)
    assert not new, ("imports that run back up the data flow (ARCHITECTURE.md): "
                     + ", ".join(f"{a} → {b}" for a, b in sorted(new))
                     + ". Move what the earlier stage needs into it, or the caller into a later stage.")


def test_a_back_import_is_caught():
    """The control: a core module importing the report stage is flagged; the same import the other way is not."""
    graph = {"mixact_lib.training.loop": {"mixact_lib.report.tables"},
             "mixact_lib.report.tables": {"mixact_lib.analysis.stats"}}
    assert back_imports(graph) == {("mixact_lib.training.loop", "mixact_lib.report.tables")}


def test_a_deliberate_back_import_in_a_copy_of_the_package_is_caught(tmp_path):
    """The control on the real tree: one added line in a copy of mixact_lib (runs importing the report stage)."""
    import shutil
    copy = tmp_path / "mixact_lib"
    shutil.copytree(PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "native"))
    assert not back_imports(import_graph(copy)) - set(KNOWN_BACK_IMPORTS)
    grid = copy / "runs" / "grid.py"
    grid.write_text(grid.read_text() + "\n\ndef _table():\n    from ..report.tables import mean_sd\n")
    assert back_imports(import_graph(copy)) - set(KNOWN_BACK_IMPORTS) == {("mixact_lib.runs.grid", "mixact_lib.report.tables")}


#: what may sit at the top of mixact_lib/ (issue 30): the package, its command line and version; the rest in stages
TOP_LEVEL_MODULES = {"__init__.py", "__main__.py", "cli.py", "_version.py"}


def test_top_level_holds_only_the_entry_points():
    found = {p.name for p in PACKAGE_DIR.glob("*.py")}
    assert found <= TOP_LEVEL_MODULES, (f"modules at mixact_lib/'s top level: {sorted(found - TOP_LEVEL_MODULES)}; "
                                        "put each in the stage it belongs to (ARCHITECTURE.md)")

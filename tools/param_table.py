"""Write the table of every notebook parameter into book/intro.md (between its markers).

    python tools/param_table.py           # rewrite the table in book/intro.md
    python tools/param_table.py --check   # exit 1 if the table is out of date (used by the tests)

The table is read from each notebook's cell tagged ``parameters``: name, declared type,
default (the quick profile) and the comment after it.
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTRO = ROOT / "book" / "intro.md"
BEGIN, END = "<!-- parameter-table:begin -->", "<!-- parameter-table:end -->"


def parameters(notebook: Path) -> list[tuple[str, str, str, str]]:
    """(name, type, default, comment) for each annotated assignment of the notebook's parameters cell."""
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"])
            rows = []
            for line in source.splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                code, _, comment = line.partition("  # ")
                node = ast.parse(code).body[0]
                if not isinstance(node, ast.AnnAssign):
                    raise ValueError(f"{notebook.name}: parameter without a type: {line!r} "
                                     '(declare it as name: "type" = value)')
                rows.append((node.target.id, ast.literal_eval(node.annotation), ast.unparse(node.value),
                             comment.strip()))
            return rows
    raise ValueError(f"{notebook} has no cell tagged 'parameters'")


def table() -> str:
    """One short table per notebook (parameter, type, default, meaning), so that no column runs off the page."""
    toc_order = ["paper_a", "paper_b_derivation", "paper_b", "paper_c", "comparison", "reproduction"]
    blocks = []
    for stem in toc_order:
        lines = [f"**`{stem}`**", "", "| parameter | type | quick default | meaning |", "|---|---|---|---|"]
        for name, kind, default, comment in parameters(ROOT / "book" / f"{stem}.ipynb"):
            default = default.replace("|", "\\|")
            meaning = comment.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")  # no raw HTML tags
            lines.append(f"| `{name}` | `{kind}` | `{default}` | {meaning} |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    text = INTRO.read_text()
    new = render(text)
    if "--check" in argv:
        if new != text:
            print("book/intro.md's parameter table is out of date: run python tools/param_table.py", file=sys.stderr)
            return 1
        return 0
    INTRO.write_text(new)
    print(f"updated {INTRO}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

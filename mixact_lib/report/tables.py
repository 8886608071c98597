"""One way to show a table in the book: no index, rounded, – for missing, readable names, scrolls when wide.

>>> import mixact_lib as mx
>>> mx.show_table(mx.mean_sd_table(runs, "activation", ["best_test_acc", "final_test_acc"]))

:func:`show_table` turns a DataFrame into an HTML table that a notebook shows as its output (or with
``display``). It drops the index, writes ``–`` for NaN/None, renames our column names to words
(:data:`LABELS`, underscores become spaces otherwise), keeps every number on one line, lets headers and
text cells wrap (so most tables fit the page's column, about 700 px on a 1300 px window) and wraps the
table in a box that scrolls sideways, so a table still too wide is never cut off. Numbers are rounded to
what their spread supports:

- ``<v>_mean`` / ``<v>_std`` column pairs (as :func:`mixact_lib.mean_sd_table` writes them) become one
  ``mean ± sd`` column named ``v``, both rounded to the sd's first significant digit (two digits when
  it is a 1; :func:`mean_sd`); their ``<v>_count`` becomes one *seeds* column, and the table says
  "Mean ± sd over seeds." under it;
- other float columns get 3 significant digits of their largest value (at most 4 decimals), tiny
  ones (below 10⁻³) the ``1.2e-05`` form, whole numbers no decimals; ``digits`` or ``formats`` override.

:func:`mean_sd` and :func:`decimals_for` are the rounding rule on their own, for sentences.
"""
from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

MISSING = "–"
#: our column names → what a reader sees; anything else has its underscores turned into spaces
LABELS = {
    "best_test_acc": "best test acc", "final_test_acc": "final test acc", "test_acc": "test acc",
    "test_acc_at_best_val": "test acc at best val", "best_val_acc": "best val acc",
    "convergence_area": "convergence area", "total_seconds": "seconds", "images_per_s": "images / s",
    "num_params": "parameters", "best_epoch": "best epoch", "total_epochs": "epochs", "n_seeds": "seeds",
    "seed": "seed", "paper_value": "paper", "ours_mean": "ours (mean)", "ours_std": "ours (sd)",
    "diff_mean": "mean difference", "diff_std": "sd of difference", "ci_low": "95 % CI low",
    "ci_high": "95 % CI high", "p_value": "p", "interval_low": "interval low", "interval_high": "interval high",
    "seeds_needed": "seeds needed", "train_subset": "train images", "best_minus_final": "best − final",
    "relative_diff": "relative difference", "activation_kwargs": "activation options",
}
_STYLE = """<style>
.mx-table-box {overflow-x: auto; max-width: 100%; margin: 0.4em 0 1.2em 0;}
.mx-table-box table.mx-table {border-collapse: collapse; font-size: 0.85em; width: auto; margin: 0;}
.mx-table th, .mx-table td {white-space: nowrap; padding: 0.25em 0.4em; border: none; text-align: right;
  border-bottom: 1px solid rgba(127, 127, 127, 0.25); vertical-align: baseline;}
.mx-table thead th {border-bottom: 2px solid rgba(127, 127, 127, 0.6); font-weight: 600;}
.mx-table thead th.mx-group {border-bottom: 1px solid rgba(127, 127, 127, 0.6); text-align: center;}
.mx-table tbody tr:nth-child(even) {background: rgba(127, 127, 127, 0.07);}
.mx-table .mx-text {text-align: left;}
.mx-table th, .mx-table td.mx-text {white-space: normal; min-width: 4.5em;}
.mx-table td.mx-text {min-width: 6em; max-width: 26em;}
.mx-note {font-size: 0.8em; opacity: 0.8; margin: 0.2em 0 0 0.2em; white-space: normal;}
</style>"""


def decimals_for(spread: float, fallback: int = 4) -> int:
    """Decimals that show ``spread``'s first significant digit, or its first two when that digit is 1.

    0.0028 → 3 (0.003), 0.0014 → 4 (0.0014), 0.0096 → 3 (0.010), 25 → 0. ``fallback`` when the
    spread is 0, NaN or infinite (one seed, or identical runs).
    """
    if spread is None or not np.isfinite(spread) or spread == 0:
        return fallback
    spread = abs(float(spread))
    decimals = -math.floor(math.log10(spread))
    rounded = round(spread, decimals)
    decimals = -math.floor(math.log10(rounded))  # 0.0096 rounds up to 0.01: one decimal fewer
    if f"{rounded:.{max(decimals, 0)}e}"[0] == "1":
        decimals += 1
    return max(decimals, 0)


def mean_sd(mean: float, sd: float, n: int | None = None, fallback: int = 4) -> str:
    """``mean ± sd`` rounded to the sd's first significant digit (:func:`decimals_for`), ``(n)`` appended if given.

    ``mean_sd(0.92163, 0.00281, 5)`` → ``"0.922 ± 0.003 (5)"``. Without a spread (one seed: sd NaN)
    the mean alone with ``fallback`` decimals; a missing mean is ``–``.
    """
    count = "" if n is None or pd.isna(n) else f" ({int(n)})"
    if mean is None or pd.isna(mean):
        return MISSING + count
    if sd is None or pd.isna(sd):
        return f"{mean:.{fallback}f}{count}"
    d = decimals_for(sd, fallback)
    return f"{mean:.{d}f} ± {abs(sd):.{d}f}{count}"


def label(column) -> str:
    """A column name as a reader sees it: :data:`LABELS`, else underscores as spaces."""
    if isinstance(column, tuple):
        return tuple(label(c) for c in column)
    return LABELS.get(column, str(column).replace("_", " ")) if isinstance(column, str) else str(column)


def auto_format(values: pd.Series) -> Callable[[float], str]:
    """The format of a float column: whole numbers without decimals, tiny ones as 1.2e-05, else 3 significant digits."""
    finite = values[np.isfinite(values.astype(float))].astype(float) if len(values) else values
    if not len(finite):
        return str
    if (finite == finite.round()).all():
        return lambda v: f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.0f}"
    largest = finite.abs().max()
    if largest < 1e-3:
        return lambda v: f"{v:.1e}"
    decimals = min(4, max(0, 2 - math.floor(math.log10(largest))))
    return lambda v: f"{v:.{decimals}f}"


def _combine_mean_sd(frame: pd.DataFrame, fallback: int, labels: Mapping | None = None) -> pd.DataFrame:
    """``<v>_mean`` + ``<v>_std`` → one mean ± sd column; equal ``<v>_count`` columns → one ``seeds`` column.

    The new column is named ``labels["<v>_mean"]``, else ``labels["<v>"]``, else ``v``'s label.
    """
    labels = labels or {}
    out = frame.copy()
    stems = [c[:-5] for c in frame.columns if isinstance(c, str) and c.endswith("_mean") and f"{c[:-5]}_std" in frame]
    counts = [f"{s}_count" for s in stems if f"{s}_count" in frame]
    one_count = len(counts) > 0 and all(frame[c].equals(frame[counts[0]]) for c in counts)
    for stem in stems:
        count = frame[f"{stem}_count"] if f"{stem}_count" in frame and not one_count else [None] * len(frame)
        out[f"{stem}_mean"] = [mean_sd(m, s, n, fallback) for m, s, n in
                               zip(frame[f"{stem}_mean"], frame[f"{stem}_std"], count)]
        out = out.drop(columns=[f"{stem}_std"] + ([f"{stem}_count"] if f"{stem}_count" in frame else []))
        name = labels.get(f"{stem}_mean") or labels.get(stem, label(stem))
        out = out.rename(columns={f"{stem}_mean": name})
    if one_count:
        out["seeds"] = frame[counts[0]].to_numpy()
    return out


def format_frame(frame: pd.DataFrame, labels: Mapping | None = None, digits: int | Mapping | None = None,
                 formats: Mapping | None = None, index: bool = False, fallback: int = 4) -> pd.DataFrame:
    """The table :func:`show_table` shows, as a DataFrame of strings (arguments as there)."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    frame = frame.reset_index() if index else frame.reset_index(drop=True)
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = pd.MultiIndex.from_tuples([tuple("" if pd.isna(x) else x for x in c) for c in frame.columns])
    else:
        frame = _combine_mean_sd(frame, fallback, labels)
    formats = dict(formats or {})
    out = {}
    for column in frame.columns:
        values = frame[column]
        if column in formats:
            spec = formats[column]
            fmt = spec if callable(spec) else spec.format
        elif pd.api.types.is_bool_dtype(values):
            fmt = {True: "yes", False: "no"}.get
        elif pd.api.types.is_integer_dtype(values):
            fmt = "{:d}".format
        elif pd.api.types.is_float_dtype(values):
            d = digits.get(column) if isinstance(digits, Mapping) else digits
            fmt = auto_format(values) if d is None else f"{{:.{d}f}}".format
        else:
            fmt = _text
        out[column] = [MISSING if _missing(v) else fmt(v) for v in values]
    names = {c: (labels or {}).get(c, label(c)) for c in frame.columns}
    shown = pd.DataFrame(out, columns=list(frame.columns), dtype=object)
    if isinstance(frame.columns, pd.MultiIndex):
        shown.columns = pd.MultiIndex.from_tuples([names[c] if isinstance(names[c], tuple) else (names[c],)
                                                   for c in frame.columns])
    else:
        shown.columns = [names[c] for c in frame.columns]
    return shown


def seed_list(seeds) -> str:
    """Seeds as a reader scans them: sorted, each run of three or more consecutive ones as a range.
    ``[0, 1, 2, 3, 4, 7, 9, 10]`` → ``"0–4, 7, 9, 10"``."""
    values = sorted({int(s) for s in seeds})
    parts, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[i - 1] + 1:
            run = values[start:i]
            parts += [f"{run[0]}–{run[-1]}"] if len(run) >= 3 else [str(v) for v in run]
            start = i
    return ", ".join(parts)


def _missing(value) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array in a cell
        return False


def _text(value) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


class Table:
    """A formatted table: ``frame`` holds its cells as strings; shown as HTML in a notebook, as text elsewhere."""

    def __init__(self, frame: pd.DataFrame, text_columns: list, note: str | None = None):
        self.frame, self.text_columns, self.note = frame, text_columns, note

    def to_html(self) -> str:
        columns = list(self.frame.columns)
        text = set(self.text_columns)
        head = _header(columns, text)
        left = ' class="mx-text"'
        body = "".join("<tr>" + "".join(f"<td{left if k in text else ''}>{html.escape(v)}</td>"
                                        for k, v in enumerate(row)) + "</tr>"
                       for row in self.frame.itertuples(index=False))
        note = f'<p class="mx-note">{html.escape(self.note)}</p>' if self.note else ""
        return (f'{_STYLE}<div class="mx-table-box"><table class="mx-table"><thead>{head}</thead>'
                f"<tbody>{body}</tbody></table>{note}</div>")

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return self.frame.to_string(index=False) + (f"\n{self.note}" if self.note else "")


def _header(columns: list, text: set) -> str:
    """One header row, or two for two-level columns (the upper level spanning the columns it groups)."""
    def cell(name, k, extra=""):
        cls = " ".join(filter(None, ["mx-text" if k in text else "", extra]))
        attribute = f' class="{cls}"' if cls else ""
        return f"<th{attribute}>{html.escape(str(name))}</th>"
    if not columns or not isinstance(columns[0], tuple):
        return "<tr>" + "".join(cell(c, k) for k, c in enumerate(columns)) + "</tr>"
    columns = [("", c[0]) if c[-1] == "" else (c[0], c[-1]) for c in columns]  # ("seed", "") → seed below
    top, k = "", 0
    while k < len(columns):
        span = 1
        while k + span < len(columns) and columns[k + span][0] == columns[k][0]:
            span += 1
        name = columns[k][0]
        top += (f'<th colspan="{span}" class="mx-group">{html.escape(str(name))}</th>' if name else
                "".join(cell("", k + j) for j in range(span)))
        k += span
    bottom = "".join(cell(c[1], k) for k, c in enumerate(columns))
    return f"<tr>{top}</tr><tr>{bottom}</tr>"


def show_table(frame: pd.DataFrame, labels: Mapping | None = None, digits: int | Mapping | None = None,
               formats: Mapping | None = None, index: bool = False, note: str | None = None,
               fallback: int = 4) -> Table:
    """Show ``frame`` as every table of the book is shown (see the module docstring for the rules).

    - ``labels``: ``{column: label}`` for this table, on top of :data:`LABELS` (a mean ± sd column is
      named by its ``<v>_mean`` key, else by its ``<v>`` key);
    - ``digits``: decimals of the float columns, one int for all or ``{column: int}``; default: automatic;
    - ``formats``: ``{column: "{:.1e}"}`` or ``{column: callable}``, overriding everything else for that column;
    - ``index``: keep the index as leading columns (default: drop it);
    - ``note``: a line in small type under the table (e.g. where timings come from);
    - ``fallback``: decimals of a mean with no spread (one seed).

    Returns a :class:`Table`; put it last in a cell or pass it to ``display``. Text columns are
    left-aligned, numbers right-aligned, no cell wraps, and a wide table scrolls inside its box.
    """
    shown = format_frame(frame, labels, digits, formats, index, fallback)
    text = [k for k in range(shown.shape[1]) if not all(_numeric_text(v) for v in shown.iloc[:, k])]
    columns = [c for c in frame.columns if isinstance(c, str)]
    if any(c.endswith("_mean") and f"{c[:-5]}_std" in columns for c in columns):
        note = "Mean ± sd over seeds." + (f" {note}" if note else "")
    return Table(shown, text, note)


def _numeric_text(value: str) -> bool:
    """A cell that reads as a number (``0.92 ± 0.01``, ``+0.003``, ``[0.1, 0.2]``, ``< 0.001``, ``–``)."""
    for mark in "±<[]":
        value = value.replace(mark, " ")
    for mark in ",()×%":
        value = value.replace(mark, " ")
    parts = value.replace("−", "-").split()
    if not parts:
        return True
    for part in parts:
        try:
            float(part)
        except ValueError:
            if part != MISSING:
                return False
    return True

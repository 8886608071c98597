"""Build the whole book on the quick profile and look at what a reader would get.

This is the slowest test (it executes every chapter); `pytest -m "not book"` skips it.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def built_book():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"), "--profile", "quick"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"book build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


def chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [Path(toc["root"]).name] + [Path(c["file"]).name for c in toc["chapters"]]


@pytest.mark.book
def test_every_chapter_renders_with_figures_and_no_traceback(built_book):
    assert (HTML / "index.html").exists()
    for stem in chapters():
        page = HTML / "book" / f"{stem}.html"
        assert page.exists(), f"{page} missing"
        text = page.read_text()
        for marker in ("Traceback (most recent call last)", "output traceback", "NameError:", "ValueError:"):
            assert marker not in text, f"{stem}: {marker}"
        if stem not in ("intro", "reproduction"):
            images = re.findall(r"<img [^>]*src=\"([^\"]+)\"", text)
            assert images, f"{stem} shows no figure"
            for src in images:
                assert (page.parent / src).resolve().exists(), f"{stem}: missing image {src}"


@pytest.mark.book
def test_build_reports_timings(built_book):
    timings = yaml.safe_load((ROOT / "_build" / "timings.json").read_text())
    assert set(timings["chapters"]) >= {"paper_a", "paper_b", "paper_c", "comparison", "reproduction", "paper_b_derivation"}
    for stem, chapter in timings["chapters"].items():
        assert chapter["cache"] in ("hit", "miss") and chapter["seconds"] >= 0, (stem, chapter)
    assert timings["threads"] >= 1 and timings["total"] > 0


@pytest.mark.book
def test_rebuild_with_nothing_changed_executes_nothing(built_book):
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"), "--profile", "quick"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    timings = yaml.safe_load((ROOT / "_build" / "timings.json").read_text())
    missed = [stem for stem, chapter in timings["chapters"].items() if chapter["cache"] != "hit"]
    assert not missed, f"executed again although nothing changed: {missed}"
    assert "executing" not in r.stdout


@pytest.mark.book
def test_pages_hide_papermills_injected_parameters_and_load_local_mathjax(built_book):
    for stem in chapters()[1:]:
        text = (HTML / "book" / f"{stem}.html").read_text()
        assert "# Parameters" not in text, f"{stem} shows papermill's injected-parameters cell"
        assert "_static/mathjax/tex-mml-chtml.js" in text or "_static/mathjax/MathJax.js" in text, \
            f"{stem} loads MathJax from outside the book (no local copy? run tools/setup.sh)"


@pytest.mark.book
def test_pages_link_the_books_stylesheet_and_no_mathjax_internals(built_book):
    """book/style/*.css is linked from every page; MathJax's own extension scripts are not (a copy of MathJax in
    the source's _static/ would make jupyter-book link each of its hundreds of .js files from every page)."""
    for stem in chapters():
        text = (HTML / "book" / f"{stem}.html").read_text()
        assert re.search(r'href="[./]*_static/mixact\.css', text), f"{stem} does not link book/style/mixact.css"
        mathjax = re.findall(r'<script src="[^"]*_static/mathjax/[^"]*"', text)
        assert len(mathjax) <= 1, \
            f"{stem} links {len(mathjax)} MathJax scripts, e.g. {mathjax[:3]}: only the entry point belongs"

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
    assert set(timings) >= {"paper_a", "paper_b", "paper_c", "comparison", "reproduction", "paper_b_derivation"}

"""Every page of the built book in a real browser (headless Chromium, driven by Playwright), offline.

Each page is served from 127.0.0.1 (as GitHub Pages serves it: over HTTP, not file://) and opened once with every
request to another host refused, then checked as a reader would see it:
no console errors, every image loaded, the maths typeset by MathJax (no raw ``\\(`` or ``\\[`` left), no display
equation or Markdown table wider than the column, no ``NaN`` or traceback in a cell's output, every internal link
(and its #anchor) found. A screenshot of each page goes to _build/screenshots/<page>.png. Playwright drives the
system's Chromium (Debian's ``chromium``, which .ci/run installs): no browser is downloaded. Without Chromium or
Playwright the tests are skipped and say which is missing.

The book comes from tools/build_book.py, whose execution cache makes this nearly free after tests/test_book.py
(which runs first) has built it: every chapter is a cache hit and only jupyter-book runs again.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
from functools import lru_cache, partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: console messages the toolchain itself prints on every jupyter-book v1 page, each with why it is harmless. An
#: uncaught page error is never in this list: sphinx-thebe's doubled inline script, which raised "Identifier
#: 'THEBE_JS_URL' has already been declared" on every page, is removed by tools/build_book.py instead
KNOWN_CONSOLE_ERRORS = {
    # pydata-sphinx-theme on a browser's first visit, before it has stored a light/dark choice
    "Got invalid theme mode: . Resetting to auto.",
}


def pages() -> list[str]:
    """Every page of the book, as paths under _build/html: the chapters in toc order, the index and search."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = [toc["root"]] + [c["file"] for c in toc["chapters"]]
    return [f"{c}.html" for c in chapters] + ["genindex.html", "search.html"]


PAGES = pages()

#: what the page does once loaded: wait for MathJax (2 or 3) to finish, make lazy images load, then report
INSPECT = """async () => {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) { await mj.startup.promise; }
  else if (mj && mj.Hub) { await new Promise(done => mj.Hub.Queue(done)); }
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = "eager"; });
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  const column = (document.querySelector("article") || document.body).getBoundingClientRect();
  const article = (document.querySelector("article") || document.body).cloneNode(true);
  article.querySelectorAll("pre, code, script, style, .highlight").forEach(e => e.remove());
  document.body.appendChild(article); article.style.display = "block";   // innerText needs a rendered node
  const prose = article.innerText; article.remove();
  return {
    mathjax: mj ? (mj.version || "loaded") : null,
    maths: document.querySelectorAll(".math").length,
    typeset: document.querySelectorAll("mjx-container, .MathJax, .MathJax_Display, .MathJax_CHTML").length,
    // display equations wider than the column: MathJax 3 clips them inside their box (scrollWidth), MathJax 2's
    // box itself runs past the article's right edge
    wide_maths: Array.from(document.querySelectorAll('mjx-container[display="true"], .MathJax_Display, .MJXc-display'))
      .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > column.right + 1)
      .map(e => `${e.textContent.trim().slice(0, 60)} (${e.scrollWidth} px in ${e.clientWidth})`),
    // Markdown tables (class "table") wider than their box, which then scrolls sideways; the generated number
    // tables (.mx-table) scroll by design and are not counted
    wide_tables: Array.from(document.querySelectorAll("article table.table"))
      .filter(t => t.parentElement.scrollWidth > t.parentElement.clientWidth + 1
                   || t.getBoundingClientRect().right > column.right + 1)
      .map(t => `${(t.querySelector("tr") || t).innerText.replace(/\\s+/g, " ").trim().slice(0, 60)} `
                + `(${Math.round(t.getBoundingClientRect().width)} px in ${t.parentElement.clientWidth})`),
    // short words (12 characters or fewer, no hyphen or slash) that a Markdown table's cell breaks over two lines:
    // a stylesheet rule meant for one table's long paths must not break "compile" in another
    broken_words: (() => {
      const out = [];
      document.querySelectorAll("article table.table td").forEach(td => {
        const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
        for (let n = walker.nextNode(); n; n = walker.nextNode()) {
          if (n.parentElement.closest("code")) continue;
          for (const m of n.data.matchAll(/[^\\s\\-–\\/]+/g)) {
            if (m[0].length > 12) continue;
            const range = document.createRange();
            range.setStart(n, m.index); range.setEnd(n, m.index + m[0].length);
            const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
            const lines = new Set(rects.map(r => Math.round(r.top)));
            if (lines.size > 1) out.push(m[0]);
          }
        }
      });
      return out;
    })(),
    prose: prose,
    outputs: Array.from(document.querySelectorAll(".cell_output, .output")).map(e => e.innerText),
    tracebacks: document.querySelectorAll(".output.traceback, .output .ansi-red-fg").length,
    broken_images: images.filter(img => !img.complete || img.naturalWidth === 0).map(img => img.src),
    images: images.length,
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href),
  };
}"""


def chromium() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def book() -> Path:
    """The built book: tools/build_book.py, all cache hits when tests/test_book.py has just built it."""
    if chromium() is None:
        pytest.skip(f"no Chromium on PATH (looked for {', '.join(BROWSERS)}): run `sudo apt-get install chromium` "
                    "to run the browser tests (tools/setup.sh does this itself when run as root)")
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'")
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_book.py"), "--profile", "quick"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"book build failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    print(f"book (re)built for the browser in {time.perf_counter() - t0:.1f} s")
    return HTML


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the browser's requests are not the test's output
        pass


@pytest.fixture(scope="module")
def site(book):
    """The built book served on 127.0.0.1 (a free port), for as long as the module's tests run."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def seen(site) -> dict[str, dict]:
    """Open every page once, offline; what each showed, keyed by page."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    reports = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1300, "height": 2000})
        for name in PAGES:
            page = context.new_page()
            errors, outside = [], []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(f"uncaught: {e}"))
            # the book must work offline: any request to another host is refused and recorded
            page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"),
                       lambda route, outside=outside: (outside.append(route.request.url), route.abort()))
            page.goto(f"{site}/{name}", wait_until="load")
            report = page.evaluate(INSPECT)
            page.screenshot(path=str(SHOTS / (name.replace("/", "_").removesuffix(".html") + ".png")), full_page=True)
            report.update(console_errors=errors, outside_requests=outside)
            reports[name] = report
            page.close()
        browser.close()
    return reports


@pytest.mark.book
@pytest.mark.parametrize("name", PAGES)
def test_no_console_errors_and_no_request_off_the_machine(seen, name):
    report = seen[name]
    uncaught = [e for e in report["console_errors"] if e.startswith("uncaught:")]
    assert not uncaught, f"{name}: uncaught page errors {uncaught}"
    errors = [e for e in report["console_errors"] if e not in KNOWN_CONSOLE_ERRORS]
    assert not errors, f"{name}: console errors {errors}"
    assert not report["outside_requests"], f"{name}: the page fetches from the network {report['outside_requests']}"


@pytest.mark.book
@pytest.mark.parametrize("name", PAGES)
def test_every_image_loads(seen, name):
    assert not seen[name]["broken_images"], f"{name}: images that did not load {seen[name]['broken_images']}"


@pytest.mark.book
@pytest.mark.parametrize("name", PAGES)
def test_maths_is_typeset_offline(seen, name):
    report = seen[name]
    raw = re.findall(r".{0,40}\\[(\[].{0,40}", report["prose"])
    assert not raw, f"{name}: raw TeX left in the page (MathJax {report['mathjax']}): {raw[:3]}"
    if report["maths"]:
        assert report["mathjax"] and report["typeset"], f"{name}: {report['maths']} equations, none typeset"


#: what may not be wider than the page's column: the report's key, what it holds, and how to fix it
TOO_WIDE = {
    "wide_maths": ("display equation(s)", "they are cut off: break them over lines "
                   "(\\begin{gathered} ... \\\\ ... \\end{gathered}) or shorten them"),
    "wide_tables": ("Markdown table(s)", "shorten the cells or let the wide column break (book/style/mixact.css)"),
}


@pytest.mark.book
@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("key", TOO_WIDE)
def test_maths_and_markdown_tables_fit_the_column(seen, name, key):
    wide = seen[name][key]
    what, fix = TOO_WIDE[key]
    assert not wide, f"{name}: {len(wide)} {what} wider than the page's column: {wide[:3]}; {fix}"


@pytest.mark.book
@pytest.mark.parametrize("name", PAGES)
def test_no_short_word_broken_in_a_table(seen, name):
    broken = seen[name]["broken_words"]
    assert not broken, (f"{name}: {len(broken)} short word(s) broken over two lines in Markdown tables, e.g. "
                        f"{broken[:5]}; a word-breaking rule in book/style/mixact.css reaches a table it was not for")


@pytest.mark.book
@pytest.mark.parametrize("name", PAGES)
def test_no_nan_or_traceback_in_outputs(seen, name):
    report = seen[name]
    bad = [line.strip() for text in report["outputs"] for line in text.splitlines()
           if re.search(r"\bNaN\b|Traceback \(most recent call last\)", line)]
    assert not bad and not report["tracebacks"], \
        f"{name}: {len(bad)} output line(s) with NaN or a traceback, e.g. {bad[:3]}; {report['tracebacks']} error outputs"


@lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset[str]:
    return frozenset(re.findall(r"""\bid=["']([^"']+)["']""", path.read_text(errors="replace")))


@pytest.mark.book
@pytest.mark.parametrize("name", PAGES)
def test_every_internal_link_resolves(seen, site, name):
    broken = []
    for href in seen[name]["links"]:
        url = urlparse(href)
        if f"{url.scheme}://{url.netloc}" != site:
            continue  # the repository, Colab, Binder, papers: outside the book
        target = HTML / unquote(url.path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            broken.append(f"{href} (no such file)")
        elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in anchors(target):
            broken.append(f"{href} (no #{url.fragment} there)")
    assert not broken, f"{name}: {len(broken)} broken link(s): {broken[:5]}"


@pytest.mark.book
def test_every_chapter_offers_its_notebook_and_a_screenshot(seen):
    for name in PAGES:
        assert (SHOTS / (name.replace("/", "_").removesuffix(".html") + ".png")).stat().st_size > 10_000, name
    notebooks = [n for n in PAGES if (ROOT / n.replace(".html", ".ipynb")).exists()]
    for name in notebooks:
        downloads = [h for h in seen[name]["links"] if h.endswith(Path(name).with_suffix(".ipynb").name)]
        assert any("/_sources/" in h for h in downloads), f"{name}: no download link to its executed .ipynb"
        assert any("colab.research.google.com" in h for h in downloads), f"{name}: no Colab launch button"
        assert any("mybinder.org" in h for h in seen[name]["links"]), f"{name}: no Binder launch button"

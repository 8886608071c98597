"""Execute every chapter with papermill under a profile, then build the jupyter-book.

    python tools/build_book.py --profile quick          # CPU, minutes
    python tools/build_book.py --profile paper          # each paper's protocol, GPU + datasets
    python tools/build_book.py --only paper_c --profile quick

Source notebooks (book/*.ipynb, committed without outputs) are never written
to: executed copies go to _build/src/book/, which jupyter-book then renders
into _build/html/. Parameters per notebook come from book/profiles/<profile>.yaml.

Executions are cached in _build/cache/, keyed by the notebook, its parameters,
the library's sources and the committed results it may read: a rebuild with
nothing changed executes nothing. Per-chapter seconds, cache hits and the total
are written to _build/timings.json. MathJax is served from the build itself
(_static/mathjax/) when a local copy is installed, so equations render offline.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD = ROOT / "_build"
SRC = BUILD / "src"
CACHE = BUILD / "cache"  # the GitHub workflow restores and saves this folder

#: where a local MathJax may be installed, in order of preference: npm's mathjax 3 (tools/setup.sh puts it
#: in .venv/node; the same major version jupyter-book configures), then Debian's libjs-mathjax (MathJax 2)
MATHJAX_DIRS = (ROOT / ".venv" / "node" / "node_modules" / "mathjax" / "es5", Path("/usr/share/javascript/mathjax"))
#: the classes MyST marks maths with; MathJax 2 needs them as tex2jax's processClass (MyST only sets v3's option)
MATH_CLASSES = "tex2jax_process|mathjax_process|math|output_area"


def chapters() -> list[str]:
    """Chapter file stems in table-of-contents order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    return [Path(f).name for f in files]


def load_profile(name: str) -> dict[str, dict]:
    path = BOOK / "profiles" / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(p.stem for p in (BOOK / "profiles").glob("*.yaml"))
        sys.exit(f"error: no profile {name!r} (looked for {path}); known profiles: {known}")
    return yaml.safe_load(path.read_text()) or {}


# --- what an execution depends on -------------------------------------------------------------------

def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def library_fingerprint() -> str:
    """The library's sources (Python and native kernels) and the versions of what executes them."""
    files = [p for p in (ROOT / "mixact_lib").rglob("*")
             if p.is_file() and p.suffix in {".py", ".cpp", ".h", ".csv"} and "__pycache__" not in p.parts]
    versions = [platform.python_version()] + [_version(d) for d in ("torch", "numpy", "pandas", "matplotlib")]
    return hashlib.sha256((_hash_files(files) + " ".join(versions)).encode()).hexdigest()


def _version(dist: str) -> str:
    try:
        return f"{dist}=={metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return f"{dist} absent"


def results_fingerprint() -> str:
    """The committed results a chapter may read: results/ as git tracks it (runs in progress are not inputs).

    Without git (an exported tarball) every file under results/ but checkpoints counts."""
    r = subprocess.run(["git", "ls-files", "-z", "results"], cwd=ROOT, capture_output=True)
    if r.returncode == 0:
        files = [ROOT / name for name in r.stdout.decode().split("\0") if name]
    else:
        files = [p for p in (ROOT / "results").rglob("*") if p.is_file() and p.suffix != ".pt"]
    return _hash_files([p for p in files if p.is_file()])


def cache_inputs(stem: str, parameters: dict, library: str, results: str) -> dict:
    notebook = hashlib.sha256((BOOK / f"{stem}.ipynb").read_bytes()).hexdigest()
    return {"notebook": notebook, "parameters": parameters, "library": library, "results": results}


def cache_key(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]


def why_not_cached(stem: str, inputs: dict) -> str:
    """Which input differs from the chapter's cached execution, in words for the build log."""
    entries = sorted(CACHE.glob(f"{stem}-*.json"))
    if not entries:
        return "not in the cache"
    cached = json.loads(entries[-1].read_text()).get("inputs", {})
    changed = [name for name in inputs if cached.get(name) != inputs[name]]
    words = {"notebook": "the notebook", "parameters": "its parameters", "library": "mixact_lib's sources",
             "results": "the committed results/"}
    return "changed since the cached run: " + ", ".join(words[n] for n in changed) if changed else "cache entry incomplete"


# --- executing -----------------------------------------------------------------------------------------

def choose_threads() -> tuple[int, str]:
    """Torch threads for the chapters: all cores on an idle machine, one when other work already fills them.

    A chapter's small CPU models gain little from a second thread but lose much when it competes with another
    process for a core, so a busy machine gets one thread per kernel."""
    if os.environ.get("MIXACT_BOOK_THREADS"):
        return int(os.environ["MIXACT_BOOK_THREADS"]), "set by MIXACT_BOOK_THREADS"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    load = os.getloadavg()[0]
    idle = cores - load
    if idle >= cores - 0.5:
        return cores, f"load {load:.2f} on {cores} cores: the machine is idle, one thread per core"
    threads = max(1, int(idle))
    return threads, f"load {load:.2f} on {cores} cores: other work holds {min(load, cores):.1f} of them, so {threads}"


def hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell `remove-cell`, so the pages show the chapter's own defaults cell
    and not papermill's override of it (the override is still in the downloadable .ipynb)."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def execute(stem: str, parameters: dict) -> float:
    """Run one chapter with papermill; what it prints (its progress bars included) streams to this console."""
    import papermill as pm

    t0 = time.perf_counter()
    pm.execute_notebook(
        str(BOOK / f"{stem}.ipynb"), str(SRC / "book" / f"{stem}.ipynb"),
        parameters=parameters, cwd=str(BOOK), kernel_name="python3", progress_bar=False,
        stdout_file=sys.stdout, stderr_file=sys.stderr,
    )
    seconds = time.perf_counter() - t0
    hide_injected_parameters(SRC / "book" / f"{stem}.ipynb")
    return seconds


def from_cache(stem: str, key: str) -> dict | None:
    """Put the cached executed copy in place (untouched when identical, so Sphinx sees no change)."""
    cached, meta = CACHE / f"{stem}-{key}.ipynb", CACHE / f"{stem}-{key}.json"
    if not (cached.exists() and meta.exists()):
        return None
    target = SRC / "book" / f"{stem}.ipynb"
    if not target.exists() or target.read_bytes() != cached.read_bytes():
        shutil.copy2(cached, target)
    return json.loads(meta.read_text())


def to_cache(stem: str, key: str, inputs: dict, seconds: float, threads: int) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob(f"{stem}-*.*"):  # one entry per chapter: the cache stays the size of the book
        old.unlink()
    shutil.copy2(SRC / "book" / f"{stem}.ipynb", CACHE / f"{stem}-{key}.ipynb")
    (CACHE / f"{stem}-{key}.json").write_text(json.dumps({"seconds": round(seconds, 1), "threads": threads, "inputs": inputs}) + "\n")


# --- staging and rendering -------------------------------------------------------------------------------

def mathjax_config() -> tuple[dict, str]:
    """Copy a local MathJax where Sphinx copies it to _static/mathjax/; the Sphinx settings that load it, a log line.

    Not into the source's own _static/: jupyter-book adds every .js file found there to every page."""
    for folder in MATHJAX_DIRS:
        target = SRC / "_mathjax" / "mathjax"
        static = {"html_static_path": ["_mathjax"]}
        if (folder / "tex-mml-chtml.js").exists():  # MathJax 3 (npm): the combined file, fonts and extensions
            keep = {"tex-mml-chtml.js", "input", "output", "ui", "a11y", "adaptors"}
            shutil.copytree(folder, target, dirs_exist_ok=True,
                            ignore=lambda d, names: [n for n in names if Path(d) == folder and n not in keep])
            return {**static, "mathjax_path": "mathjax/tex-mml-chtml.js"}, f"MathJax 3 served from the book ({folder})"
        if (folder / "MathJax.js").exists():  # MathJax 2 (Debian): skip the uncompressed copy and the tests
            shutil.copytree(folder, target, dirs_exist_ok=True, symlinks=False,
                            ignore=lambda d, names: [n for n in names if Path(d) == folder and n in {"unpacked", "test"}])
            return ({**static, "mathjax_path": "mathjax/MathJax.js?config=TeX-AMS_CHTML",
                     "mathjax2_config": {"tex2jax": {"processClass": MATH_CLASSES}}},
                    f"MathJax 2 served from the book ({folder})")
    return {}, ("WARNING: no local MathJax found (looked in " + ", ".join(map(str, MATHJAX_DIRS)) +
                "); the pages load it from a CDN and show raw TeX offline. Run tools/setup.sh to install one.")


def style_config() -> dict:
    """Stage book/style/*.css where Sphinx serves it (``_static/``) and link it from every page; the settings.

    Not through the source's own ``_static/``: jupyter-book would then scan every static path, MathJax's
    included, and link each of its .js files from every page. ``html_context`` carries the stylesheets' hash,
    so that a change to them alone rebuilds the pages (Sphinx copies static files only when a page is written).
    """
    sheets = sorted((BOOK / "style").glob("*.css"))
    if not sheets:
        return {}
    target = SRC / "_style"
    target.mkdir(parents=True, exist_ok=True)
    for sheet in sheets:
        shutil.copy2(sheet, target / sheet.name)
    return {"html_static_path": ["_style"], "html_css_files": [s.name for s in sheets],
            "html_context": {"mixact_style": _hash_files(sheets)[:12]}}


def stage_sources() -> None:
    """Copy config, toc, markdown chapters and stylesheets next to the executed notebooks; add the local MathJax."""
    (SRC / "book").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "_toc.yml", SRC / "_toc.yml")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    settings, message = mathjax_config()
    print(message, flush=True)
    sphinx = config.setdefault("sphinx", {}).setdefault("config", {})
    style = style_config()
    static = [*sphinx.get("html_static_path", []), *settings.pop("html_static_path", []),
              *style.pop("html_static_path", [])]
    sphinx.update(settings)
    sphinx.update(style)
    if static:  # every folder Sphinx serves: _config.yml's own, the local MathJax's and the stylesheets'
        sphinx["html_static_path"] = static
    text = "# staged by tools/build_book.py from ../../_config.yml\n" + yaml.safe_dump(config, sort_keys=False)
    if not (SRC / "_config.yml").exists() or (SRC / "_config.yml").read_text() != text:
        (SRC / "_config.yml").write_text(text)
    for md in BOOK.glob("*.md"):
        shutil.copy2(md, SRC / "book" / md.name)
    for extra in ("images",):
        if (BOOK / extra).exists():
            shutil.copytree(BOOK / extra, SRC / "book" / extra, dirs_exist_ok=True)


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>\s*", re.S)


def dedupe_inline_scripts(html_dir: Path) -> int:
    """Drop the second copy of any inline ``<script>`` a page holds twice; the pages changed.

    sphinx-thebe 0.3.1 under jupyter-book 1.0.4 writes its inline configuration (``const THEBE_JS_URL = …``)
    twice into every page, and the second ``const`` fails with "Identifier 'THEBE_JS_URL' has already been
    declared", an uncaught error on every page. A script that appears twice with the same text can only
    redeclare what the first declared, so keeping the first copy is safe.
    """
    changed = 0
    for page in html_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        seen: set[str] = set()

        def once(match: re.Match) -> str:
            body = match.group(1).strip()
            if not body or body not in seen:
                seen.add(body)
                return match.group(0)
            return ""

        new = INLINE_SCRIPT.sub(once, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="quick", help="book/profiles/<name>.yaml (default: quick)")
    parser.add_argument("--only", nargs="*", default=None, help="execute only these chapters (others must exist)")
    parser.add_argument("--no-execute", action="store_true", help="render already-executed copies only")
    parser.add_argument("--no-cache", action="store_true", help="execute every chapter even if a cached copy fits")
    parser.add_argument("--strict", action="store_true", help="treat Sphinx warnings as errors (-W)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    profile = load_profile(args.profile)
    stage_sources()
    timings_path = BUILD / "timings.json"
    notebooks = [s for s in chapters() if (BOOK / f"{s}.ipynb").exists()]
    unknown = set(args.only or []) - set(notebooks)
    if unknown:
        sys.exit(f"error: --only names {sorted(unknown)}, which are not notebooks; notebooks: {', '.join(notebooks)}")
    old = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    timings = {"chapters": old.get("chapters", {}) if isinstance(old.get("chapters"), dict) else {}}
    if not args.no_execute:
        threads, why = choose_threads()
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the kernels papermill starts inherit these
            os.environ[name] = str(threads)
        print(f"torch threads per chapter: {threads} ({why})", flush=True)
        timings.update(threads=threads, threads_reason=why, load_before=round(os.getloadavg()[0], 2))
        library, results = library_fingerprint(), results_fingerprint()
        todo = [s for s in notebooks if args.only is None or s in args.only]
        for i, stem in enumerate(todo, 1):
            params = {"profile": args.profile, **(profile.get(stem) or {})}
            inputs = cache_inputs(stem, params, library, results)
            key = cache_key(inputs)
            hit = None if args.no_cache else from_cache(stem, key)
            if hit is not None:
                timings["chapters"][stem] = {"seconds": 0.0, "cache": "hit", "executed_seconds": hit["seconds"]}
                print(f"[{i}/{len(todo)}] {stem}: unchanged, cached execution reused "
                      f"(it took {hit['seconds']:.1f} s)", flush=True)
                continue
            why = "--no-cache" if args.no_cache else why_not_cached(stem, inputs)
            print(f"[{i}/{len(todo)}] executing {stem} ({args.profile} profile; {why}) ...", flush=True)
            seconds = execute(stem, params)
            to_cache(stem, key, inputs, seconds, threads)
            timings["chapters"][stem] = {"seconds": round(seconds, 1), "cache": "miss", "threads": threads}
            print(f"[{i}/{len(todo)}] {stem}: done in {seconds:.1f} s", flush=True)
    missing = [s for s in notebooks if not (SRC / "book" / f"{s}.ipynb").exists()]
    if missing:
        sys.exit(f"error: no executed copy of {missing}; run without --no-execute first")
    timings["execute_total"] = round(time.perf_counter() - start, 1)
    timings_path.write_text(json.dumps(timings, indent=2) + "\n")  # kept even if jupyter-book fails below
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(SRC), "--path-output", str(ROOT)]
    if args.strict:
        cmd += ["-W", "-n", "--keep-going"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    deduped = dedupe_inline_scripts(BUILD / "html")
    print(f"pages with a duplicated inline script removed: {deduped}", flush=True)
    timings["jupyter_book"] = round(time.perf_counter() - t0, 1)
    timings["total"] = round(time.perf_counter() - start, 1)
    timings_path.write_text(json.dumps(timings, indent=2) + "\n")
    print(f"jupyter-book build: {timings['jupyter_book']:.1f} s; total {timings['total']:.1f} s "
          f"({sum(c.get('cache') == 'hit' for c in timings['chapters'].values())} of {len(timings['chapters'])} "
          f"chapters from the cache); {timings_path.relative_to(ROOT)}")
    print(f"book: {BUILD / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

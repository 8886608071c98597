"""Execute every chapter with papermill under a profile, then build the jupyter-book.

    python tools/build_book.py --profile quick          # CPU, minutes
    python tools/build_book.py --profile paper          # each paper's protocol, GPU + datasets
    python tools/build_book.py --only paper_c --profile quick

Source notebooks (book/*.ipynb, committed without outputs) are never written
to: executed copies go to _build/src/book/, which jupyter-book then renders
into _build/html/. Parameters per notebook come from book/profiles/<profile>.yaml.
Per-chapter execution times are written to _build/timings.json.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD = ROOT / "_build"
SRC = BUILD / "src"


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


def execute(stem: str, parameters: dict) -> float:
    """Run one chapter with papermill; what it prints (its progress bars included) streams to this console."""
    import papermill as pm

    t0 = time.perf_counter()
    pm.execute_notebook(
        str(BOOK / f"{stem}.ipynb"), str(SRC / "book" / f"{stem}.ipynb"),
        parameters=parameters, cwd=str(BOOK), kernel_name="python3", progress_bar=False,
        stdout_file=sys.stdout, stderr_file=sys.stderr,
    )
    return time.perf_counter() - t0


def stage_sources() -> None:
    """Copy config, toc and markdown chapters next to the executed notebooks."""
    (SRC / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, SRC / name)
    for md in BOOK.glob("*.md"):
        shutil.copy2(md, SRC / "book" / md.name)
    for extra in ("images",):
        if (BOOK / extra).exists():
            shutil.copytree(BOOK / extra, SRC / "book" / extra, dirs_exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="quick", help="book/profiles/<name>.yaml (default: quick)")
    parser.add_argument("--only", nargs="*", default=None, help="execute only these chapters (others must exist)")
    parser.add_argument("--no-execute", action="store_true", help="render already-executed copies only")
    parser.add_argument("--strict", action="store_true", help="treat Sphinx warnings as errors (-W)")
    args = parser.parse_args(argv)

    profile = load_profile(args.profile)
    stage_sources()
    timings_path = BUILD / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    notebooks = [s for s in chapters() if (BOOK / f"{s}.ipynb").exists()]
    unknown = set(args.only or []) - set(notebooks)
    if unknown:
        sys.exit(f"error: --only names {sorted(unknown)}, which are not notebooks; notebooks: {', '.join(notebooks)}")
    if not args.no_execute:
        todo = [s for s in notebooks if args.only is None or s in args.only]
        for i, stem in enumerate(todo, 1):
            params = {"profile": args.profile, **(profile.get(stem) or {})}
            print(f"[{i}/{len(todo)}] executing {stem} ({args.profile} profile) ...", flush=True)
            timings[stem] = round(execute(stem, params), 1)
            print(f"[{i}/{len(todo)}] {stem}: done in {timings[stem]:.1f} s", flush=True)
        timings_path.write_text(json.dumps(timings, indent=2) + "\n")
    missing = [s for s in notebooks if not (SRC / "book" / f"{s}.ipynb").exists()]
    if missing:
        sys.exit(f"error: no executed copy of {missing}; run without --no-execute first")
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", str(SRC), "--path-output", str(ROOT)]
    if args.strict:
        cmd += ["-W", "-n", "--keep-going"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"jupyter-book build: {time.perf_counter() - t0:.1f} s")
    print(f"book: {BUILD / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

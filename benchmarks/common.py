"""What both benchmark scripts share: which devices to measure, the result header, writing the JSON."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch


def devices_for(choice: str) -> list[str]:
    """``cpu``, ``cuda``, or ``auto`` = the CPU plus CUDA when there is one."""
    if choice in ("cpu", "cuda"):
        return [choice]
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def result_header(**extra) -> dict:
    """The versions and time a measurement is reported with; ``runs`` is filled by the caller."""
    return {"torch": torch.__version__, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M"), **extra, "runs": []}


def write_result(result: dict, out: Path, default_out: Path, name: str, quick: bool) -> None:
    """Write ``<out>/<name>.json``. A --quick run writes only when sent elsewhere: it must not replace real numbers."""
    if quick and out == default_out:
        return
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")

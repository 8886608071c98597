"""Claim files: one task at a time in a run folder, on one machine or many sharing a file system.

A task that is about to train a grid cell first creates ``claim.json`` in the cell's folder with
``O_CREAT | O_EXCL``, the one file operation that NFS and local disks both make atomic, so of two
tasks racing for a folder exactly one wins. The file names its holder (host, pid, start time and a
random token); while the task trains, a heartbeat thread touches the file's modification time.

A claim is *expired*, and the folder free again, when either

* its heartbeat is older than ``ttl`` seconds (the holder died on some machine, or that machine did), or
* its holder ran on this host and that process no longer exists (killed, crashed), which is known at
  once, so a re-run on the same machine need not wait out the ``ttl``.

Taking over an expired claim goes through a second, short-lived lock file (``claim.json.break``),
so two tasks that both find the same expired claim cannot both take it. Clocks of different
machines are compared through file times, so ``ttl`` should be far above any clock skew: the
default is 10 minutes, with a heartbeat every ``ttl / 5``.

    with hold(folder) as claim:       # None: another live task holds the folder
        if claim is not None:
            run(config)
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

CLAIM = "claim.json"
BREAK = CLAIM + ".break"
#: seconds without a heartbeat after which a claim is considered abandoned
CLAIM_TTL_S = 600.0


def _create_exclusive(path: Path, record: dict) -> bool:
    """Create ``path`` holding ``record`` only if it does not exist yet; whether this call created it."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
        f.write("\n")
    return True


def read_claim(folder: str | Path) -> dict | None:
    """The claim record of ``folder`` plus ``heartbeat`` (its file time), or None when unclaimed."""
    path = Path(folder) / CLAIM
    try:
        record = json.loads(path.read_text())
        record["heartbeat"] = path.stat().st_mtime
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # caught between create and write: an empty claim being written
        try:
            return {"host": "?", "pid": -1, "token": "", "started": 0.0, "heartbeat": path.stat().st_mtime}
        except FileNotFoundError:
            return None
    return record


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, belongs to someone else
        return False
    try:  # a killed process its parent has not reaped yet is a zombie: as good as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def is_expired(record: dict, ttl: float = CLAIM_TTL_S, now: float | None = None) -> bool:
    """Whether a claim record (from :func:`read_claim`) no longer protects its folder."""
    now = time.time() if now is None else now
    if now - record["heartbeat"] > ttl:
        return True
    pid = record.get("pid", -1)
    return record.get("host") == socket.gethostname() and isinstance(pid, int) and pid > 0 and _process_gone(pid)


def try_claim(folder: str | Path, ttl: float = CLAIM_TTL_S) -> dict | None:
    """Claim ``folder`` (created if missing) for this process: its record, or None if a live task holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
              "token": secrets.token_hex(8)}
    if _create_exclusive(folder / CLAIM, record):
        return record
    held = read_claim(folder)
    if held is not None and not is_expired(held, ttl):
        return None
    # expired (or released meanwhile): only the holder of the break lock may remove it
    breaker = folder / BREAK
    if not _create_exclusive(breaker, record):
        with contextlib.suppress(FileNotFoundError):  # a breaker that itself died long ago
            if time.time() - breaker.stat().st_mtime > ttl:
                breaker.unlink()
        return None
    try:
        again = read_claim(folder)
        if again is not None:
            if again.get("token") != (held or {}).get("token") or not is_expired(again, ttl):
                return None  # someone took it over between our two looks
            (folder / CLAIM).unlink()
        return record if _create_exclusive(folder / CLAIM, record) else None
    finally:
        with contextlib.suppress(FileNotFoundError):
            breaker.unlink()


def release(folder: str | Path, record: dict) -> None:
    """Remove the claim of ``folder`` if it is still ``record``'s (a claim taken over stays)."""
    held = read_claim(folder)
    if held is not None and held.get("token") == record["token"]:
        with contextlib.suppress(FileNotFoundError):
            (Path(folder) / CLAIM).unlink()


def _heartbeat(folder: Path, record: dict, interval: float, stop: threading.Event) -> None:
    while not stop.wait(interval):
        held = read_claim(folder)
        if held is None or held.get("token") != record["token"]:
            return  # taken over after we went silent: nothing of ours left to refresh
        with contextlib.suppress(FileNotFoundError):
            os.utime(folder / CLAIM)


@contextlib.contextmanager
def hold(folder: str | Path, ttl: float = CLAIM_TTL_S) -> Iterator[dict | None]:
    """Claim ``folder`` for the ``with`` block, heartbeating every ``ttl / 5``; yields None if taken."""
    folder = Path(folder)
    record = try_claim(folder, ttl)
    if record is None:
        yield None
        return
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(folder, record, ttl / 5, stop), daemon=True,
                            name=f"claim-heartbeat {folder.name}")
    beat.start()
    try:
        yield record
    finally:
        stop.set()
        beat.join()
        release(folder, record)

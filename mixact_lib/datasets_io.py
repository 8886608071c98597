"""Backwards-compatible alias: the code now lives in :mod:`mixact_lib.data.readers`."""
import sys

from .data import readers as _module

sys.modules[__name__] = _module  # so that imports and monkeypatch.setattr act on the real module

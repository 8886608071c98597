"""Fixtures shared by the data tests."""
import pytest

from mixact_lib.data import readers


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Every search place points into tmp_path: root/, env/ ($MIXACT_DATA), cwd/ (./data), system/."""
    for d in ("root", "env", "cwd", "system"):
        (tmp_path / d).mkdir()
    monkeypatch.setenv("MIXACT_DATA", str(tmp_path / "env"))
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setattr(readers, "SYSTEM_DATA_DIRS", (tmp_path / "system",))
    return tmp_path

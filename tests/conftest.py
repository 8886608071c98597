"""Fixtures shared by several test files: isolated data folders, one local Ray cluster."""
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


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster of 2 CPUs for one test module (skipped where Ray is not installed)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()

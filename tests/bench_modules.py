"""The scripts under ``bench/`` loaded as modules for the tests (``bench/`` is no package; its
scripts import each other by name, so ``bench/`` is on ``sys.path`` while one loads)."""
import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load(name):
    """``bench/<name>.py`` as a fresh module."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))

"""Re-execute the lessons in place, in order, so their stored outputs match the library.

    python scripts/execute_notebooks.py                      # every notebooks/NN_*.ipynb
    python scripts/execute_notebooks.py notebooks/03_pooling.ipynb [...]
    python scripts/execute_notebooks.py --timeout 600        # seconds allowed per cell

(`make notebooks` runs the first form.) Each notebook runs in a fresh kernel of THIS Python
(the project's .venv), with the notebooks/ folder as working directory and the environment
passed on, so CONVLAB_MNIST_DIR is honoured. A notebook is written back only if every cell ran
without error; a failing one is left untouched, the error is reported and the others still run.
A notebook whose data (metadata "convlab": {"needs": [...]}) is not on disk is not started: it
fails with one line saying how to get the data. Prints each notebook's run time; exits 1 if any
failed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from convlab import data
import notebook_needs  # scripts/notebook_needs.py (this folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


class _ThisPythonSpecs(KernelSpecManager):
    """Always hand out a kernel running sys.executable, whatever kernels the user has installed."""

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


class _ThisPythonKernel(AsyncKernelManager):
    def _kernel_spec_manager_default(self):
        return _ThisPythonSpecs()


def execute(path: Path, timeout: int) -> float:
    """Run one notebook top to bottom and write it back in place; return the seconds taken."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_manager_class=_ThisPythonKernel,
        kernel_name="python3",
        timeout=timeout,
        record_timing=False,  # no per-cell timestamps in the committed files
        resources={"metadata": {"path": str(path.parent)}},  # kernel's working directory
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: every notebooks/NN_*.ipynb, in order)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds allowed per cell")
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"no notebooks found in {NOTEBOOKS}", file=sys.stderr)
        return 1
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"not found: {', '.join(missing)}", file=sys.stderr)
        return 1

    print(f"CONVLAB_MNIST_DIR={os.environ.get('CONVLAB_MNIST_DIR', '(not set)')}")
    failed = []
    total = 0.0
    for path in paths:
        try:
            lacking = notebook_needs.missing(path)
        except ValueError as exc:
            lacking = [str(exc)]
        if lacking:
            failed.append(path.name)
            why = "; ".join(data.how_to_get(n, sys.executable) if n in data.DATASETS else n
                            for n in lacking)
            print(f"{path.name:<40} FAILED, not run: {why}", flush=True)
            continue
        print(f"running {path.name} ...", flush=True)
        start = time.perf_counter()
        try:
            seconds = execute(path, args.timeout)
        except (CellExecutionError, CellTimeoutError) as exc:
            seconds = time.perf_counter() - start
            failed.append(path.name)
            print(f"{path.name:<40} FAILED after {seconds:.1f} s (file left unchanged)\n{exc}\n",
                  flush=True)
        else:
            size_kb = path.stat().st_size / 1024
            print(f"{path.name:<40} {seconds:6.1f} s  {size_kb:8.0f} KB", flush=True)
        total += seconds
    print(f"{'total':<40} {total:6.1f} s")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

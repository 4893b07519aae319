"""Give every lesson the cell that installs convlab when the lesson runs in the browser.

    python scripts/site_cell.py [notebooks/NN_name.ipynb ...]   (default: every lesson)

On the JupyterLite site (``make site``) the kernel is Pyodide, which starts without convlab: the
cell installs it from the site's own wheel (``piplite``, served by the site, never PyPI). In
JupyterLab, nbval and everywhere else the cell does nothing. It goes right after the lesson's
title (the first markdown cell) and is found again by its id, so running this script again
updates it in place instead of adding a second one (idempotent; a notebook already up to date is
not rewritten). Re-execute the lessons afterwards (scripts/execute_notebooks.py) so the execution
counts run in order again.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL_ID = "convlab-site-install"
SOURCE = """\
# In the browser (the lessons' JupyterLite site) this installs convlab from the site itself;
# anywhere else it does nothing.
import sys
if sys.platform == "emscripten":
    import piplite
    await piplite.install("convlab")
    print("In the browser: NumPy has no BLAS here, so matrix products run about 10-30x slower than "
          "in JupyterLab; live training runs are kept short, and the shipped nets do the rest.")"""


def site_cell() -> dict:
    return {"cell_type": "code", "execution_count": None, "id": CELL_ID, "metadata": {},
            "outputs": [], "source": SOURCE.splitlines(keepends=True)}


def update(nb: dict) -> bool:
    """Insert or refresh the site cell in notebook ``nb`` (in place); True if it changed."""
    cells = nb["cells"]
    found = [i for i, c in enumerate(cells) if c.get("id") == CELL_ID]
    want = 1 if cells and cells[0]["cell_type"] == "markdown" else 0
    for i in reversed(found[1:]):  # never more than one
        del cells[i]
    if found:
        i = found[0]
        cell = cells[i]
        if cell["source"] == site_cell()["source"] and i == want:
            return len(found) > 1
        new = site_cell()
        if "".join(cell["source"]) == SOURCE:  # same code: keep its run
            new["execution_count"], new["outputs"] = cell["execution_count"], cell["outputs"]
        del cells[i]
        cells.insert(want, new)
        return True
    cells.insert(want, site_cell())
    # Cell ids are in nbformat 4.5 and later.
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        nb["nbformat_minor"] = 5
    return True


def lessons() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def main(argv=None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)] or lessons()
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if update(nb):
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"{path}: site cell written")
        else:
            print(f"{path}: up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

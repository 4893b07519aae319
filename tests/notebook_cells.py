"""Reading the committed lessons in tests: their cells and what their outputs say.

``cells("06_training")`` (or ``"06_training.ipynb"``) is the notebook's list of cells as stored;
``output_text(cell)`` joins a code cell's stream text and the text/plain of its results.
"""
import json
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def cells(name):
    """The cells of notebooks/<name>.ipynb (``name`` with or without ``.ipynb``)."""
    path = NOTEBOOKS / (name if name.endswith(".ipynb") else f"{name}.ipynb")
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def output_text(cell):
    """Everything a code cell printed or displayed as text."""
    return "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                   for o in cell.get("outputs", []))

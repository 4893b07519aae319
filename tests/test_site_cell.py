"""scripts/site_cell.py: one install cell per lesson, after the title, idempotent."""
from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("site_cell", ROOT / "scripts" / "site_cell.py")
site_cell = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site_cell)


def _nb():
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "markdown", "id": "t", "metadata": {}, "source": ["# Title"]},
                      {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": 1,
                       "outputs": [], "source": ["import convlab"]}]}


def test_inserted_after_the_title_once():
    nb = _nb()
    assert site_cell.update(nb) is True
    assert [c["id"] for c in nb["cells"]] == ["t", site_cell.CELL_ID, "c"]
    again = copy.deepcopy(nb)
    assert site_cell.update(again) is False and again == nb


def test_an_old_version_is_replaced_in_place_and_duplicates_removed():
    nb = _nb()
    site_cell.update(nb)
    nb["cells"][1]["source"] = ["# an older install cell"]
    nb["cells"].append(copy.deepcopy(nb["cells"][1]))
    assert site_cell.update(nb) is True
    ids = [c["id"] for c in nb["cells"]]
    assert ids == ["t", site_cell.CELL_ID, "c"]
    assert "".join(nb["cells"][1]["source"]) == site_cell.SOURCE


def test_the_cell_does_nothing_outside_the_browser():
    # Outside Pyodide the only statements that run are the import and the test.
    src = site_cell.SOURCE
    assert 'if sys.platform == "emscripten":' in src
    body = src.split('if sys.platform == "emscripten":', 1)[1]
    assert all(line.startswith("    ") for line in body.strip("\n").splitlines())


def test_every_lesson_gets_it(tmp_path):
    for path in site_cell.lessons():
        nb = json.loads(path.read_text(encoding="utf-8"))
        site_cell.update(nb)
        assert sum(c.get("id") == site_cell.CELL_ID for c in nb["cells"]) == 1, path.name

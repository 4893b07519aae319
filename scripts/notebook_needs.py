"""Which lessons can run here: the datasets a notebook needs, and whether they are on disk.

    python scripts/notebook_needs.py notebooks/*.ipynb

A notebook that needs data says so in its metadata, e.g. ``"convlab": {"needs": ["mnist"]}``
(names from ``convlab.data.DATASETS``). Availability is ``convlab.data.available``: the four files
are on disk where the lessons will look; nothing is downloaded.

Prints the notebooks that can run on stdout, one per line (``make test-notebooks`` runs those).
On stderr, one line per notebook that cannot (SKIPPED, or FAILED when CONVLAB_REQUIRE_MNIST=1,
as in CI) and one line per missing dataset saying how to get it. Exit status: 0, or 1 when a
notebook FAILED (data missing under CONVLAB_REQUIRE_MNIST=1, bad metadata, a bad data folder).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from convlab import data

REQUIRE = "CONVLAB_REQUIRE_MNIST"  # "1": missing data (MNIST or Fashion-MNIST) is a failure


def needs(path: Path) -> list[str]:
    """The dataset names in the notebook's ``metadata.convlab.needs`` (empty if none)."""
    metadata = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    names = metadata.get("convlab", {}).get("needs", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"metadata convlab.needs must be a list of dataset names, got {names!r}")
    return names


def missing(path: Path) -> list[str]:
    """The datasets the notebook needs that are not on disk (ValueError for an unknown name or a
    data folder that is a file)."""
    return [name for name in needs(path) if not data.available(name)]


def _python() -> str:
    """How to call this Python in a hint: relative to the working folder when it is inside it."""
    rel = os.path.relpath(sys.executable)
    return sys.executable if rel.startswith("..") else rel


def main(argv: list[str]) -> int:
    strict = os.environ.get(REQUIRE) == "1"
    status = 0
    absent: list[str] = []
    for nb in argv:
        try:
            lacking = missing(Path(nb))
        except (OSError, ValueError) as e:
            print(f"*** FAILED {nb}: {e}", file=sys.stderr)
            status = 1
            continue
        if not lacking:
            print(nb)
            continue
        titles = ", ".join(data.DATASETS[n].title for n in lacking)
        if strict:
            print(f"*** FAILED {nb}: needs {titles} ({REQUIRE}=1)", file=sys.stderr)
            status = 1
        else:
            print(f"=== SKIPPED {nb}: needs {titles}", file=sys.stderr)
        absent += [n for n in lacking if n not in absent]
    for name in absent:
        print(f"=== {data.how_to_get(name, python=_python())}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

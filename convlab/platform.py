"""Where convlab runs: the one place that tells a browser (Pyodide, e.g. the JupyterLite site
built by ``make site``) from an ordinary Python.

In the browser there are no threads, no ``fcntl`` and no fast BLAS (expect matrix products 10-30x
slower than on a laptop's NumPy), and files are those of the site: lessons ask ``in_browser()``
to keep live training runs small there.
"""
from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["in_browser", "SITE_DATA_DIR"]

# The site's data folder as the browser kernel sees it: the site's files are mounted at /drive,
# and scripts/build_site.py puts each dataset's four files into data/<name>/ there.
SITE_DATA_DIR = Path("/drive/data")


def in_browser() -> bool:
    """True when this Python is Pyodide (WebAssembly in a browser), else False."""
    return sys.platform == "emscripten"

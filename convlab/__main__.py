"""``python -m convlab train ...`` / ``python -m convlab evaluate PARAMS`` (see convlab.cli)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m convlab train ...`` / ``python -m convlab evaluate PARAMS`` (see convlab.cli)."""
from .cli import run

if __name__ == "__main__":
    run()

"""When the process was started as the command (``python -m convlab ...`` or the ``convlab``
script), a Ctrl-C or SIGTERM while the package is still being imported (NumPy takes a few tenths
of a second) ends it quietly: one line, exit code 130 (143 for SIGTERM), no traceback -- nothing
has been written yet. ``convlab.cli.run`` takes the signals over as soon as it runs. Imported
first by ``convlab/__init__.py``; does nothing when convlab is imported as a library."""
import os
import sys


def _started_as_command():
    argv = getattr(sys, "orig_argv", [])
    if "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1] == "convlab"
    return os.path.splitext(os.path.basename(sys.argv[0] if sys.argv else ""))[0] == "convlab"


def _quit(signum, frame):
    try:
        sys.stderr.write("interrupted: nothing was written\n")
        sys.stderr.flush()
    finally:
        os._exit(128 + signum)


if _started_as_command():
    import signal
    for _name in ("SIGINT", "SIGTERM"):
        if hasattr(signal, _name):
            try:
                signal.signal(getattr(signal, _name), _quit)
            except (OSError, ValueError):           # not the main thread, or no such handler here
                pass

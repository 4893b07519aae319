"""convlab.platform: the one test for the browser (Pyodide), and where data is read there."""
from __future__ import annotations

import sys

from convlab import data, platform


def test_in_browser_is_the_emscripten_platform(monkeypatch):
    assert platform.in_browser() is (sys.platform == "emscripten")
    monkeypatch.setattr(sys, "platform", "emscripten")
    assert platform.in_browser() is True


def test_in_the_browser_the_site_data_comes_first(monkeypatch, tmp_path):
    site = tmp_path / "drive" / "data"
    (site / "mnist").mkdir(parents=True)
    for name in data.FILES:
        (site / "mnist" / f"{name}.gz").write_bytes(b"")
    monkeypatch.delenv("CONVLAB_MNIST_DIR", raising=False)
    monkeypatch.setattr(platform, "SITE_DATA_DIR", site)
    monkeypatch.setattr(platform, "in_browser", lambda: True)
    assert data.find_data_dir("mnist") == site / "mnist"
    monkeypatch.setattr(platform, "in_browser", lambda: False)
    assert data.find_data_dir("mnist") != site / "mnist"
    # An explicit folder still wins, in the browser too.
    monkeypatch.setattr(platform, "in_browser", lambda: True)
    assert data.find_data_dir("mnist", tmp_path) == tmp_path

"""Fixtures for the real-browser tests: one JupyterLab server and one headless Chromium per session.

The server listens on 127.0.0.1 (a free port, a random token) with its own config, runtime,
data, settings and workspace dirs in a temp dir, and serves a temp COPY of notebooks/ (Lab autosaves
what it opens). Chromium is Debian's /usr/bin/chromium driven by Playwright for Python; we never
run `playwright install`.

Without chromium or playwright the browser tests are skipped, unless CONVLAB_REQUIRE_BROWSER=1
(as in CI), where they fail with the reason. CONVLAB_BROWSER_NOTEBOOKS=<dir> serves another folder
instead of notebooks/ (see test_lessons_browser.py). The driver's own fixture notebooks
(tests/browser/fixtures/) are served too, under FIXTURES_DIR.

At the end of the session a table lists, per notebook, the explorers and controls that were driven
and the time taken (see ``REPORT``).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REQUIRE_BROWSER = os.environ.get("CONVLAB_REQUIRE_BROWSER") == "1"
SERVER_START_TIMEOUT = 120  # seconds; about 2 s on an idle machine
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURES_DIR = "_driver_fixtures"  # where the server serves FIXTURES (beside the lessons)
REPORT: list = []  # driver.NotebookRun of every notebook driven, printed at the end


def notebooks_source() -> Path:
    """The folder of lessons to serve: $CONVLAB_BROWSER_NOTEBOOKS, else the repository's notebooks/."""
    return Path(os.environ.get("CONVLAB_BROWSER_NOTEBOOKS", ROOT / "notebooks"))


def skip_or_fail(reason: str):
    """Skip the test, or fail it when CONVLAB_REQUIRE_BROWSER=1 says the browser tests must run."""
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (CONVLAB_REQUIRE_BROWSER=1, so this is a failure, not a skip)",
                    pytrace=False)
    pytest.skip(reason)


def _browser_missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _not_lesson_files(folder: str, names: list[str]) -> set[str]:
    """copytree filter: skip checkpoints, caches and anything that is not a file or folder
    (e.g. the sockets a kernel started with transport=ipc leaves in its working directory)."""
    skip = {".ipynb_checkpoints", "__pycache__"}
    return {n for n in names
            if n in skip or not (os.path.isfile(os.path.join(folder, n))
                                 or os.path.isdir(os.path.join(folder, n)))}


def _write_lab_settings(settings_dir: Path) -> None:
    def put(plugin: str, values: dict) -> None:
        path = settings_dir / plugin
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")

    # No "Would you like to get notified about official Jupyter news?" toast over the page.
    put("@jupyterlab/apputils-extension/notification.jupyterlab-settings",
        {"fetchNews": "false", "checkForUpdates": False})
    # Keep every cell in the DOM (no virtual scrolling), so the tests can see all of them.
    put("@jupyterlab/notebook-extension/tracker.jupyterlab-settings", {"windowingMode": "none"})


@dataclass
class Lab:
    url: str          # http://127.0.0.1:<port>
    token: str
    root: Path        # the folder the server serves (a copy of notebooks/)
    log: Path         # the server's stdout and stderr
    artifacts: Path   # screenshots of failed tests go here

    def notebook_url(self, name: str) -> str:
        # ?reset: start from an empty workspace, not with the tabs an earlier test left open.
        return f"{self.url}/lab/tree/{name}?reset&token={self.token}"

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for kernel in self.api("GET", "kernels"):
            self.api("DELETE", f"kernels/{kernel['id']}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a temp copy of notebooks/; stopped with SIGTERM."""
    missing = _browser_missing()
    if missing:
        skip_or_fail(missing)

    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    shutil.copytree(notebooks_source(), root, ignore=_not_lesson_files)
    shutil.copytree(FIXTURES, root / FIXTURES_DIR, ignore=_not_lesson_files)

    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings"),
                     ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")]:
        (base / sub).mkdir()
        env[var] = str(base / sub)
    _write_lab_settings(base / "settings")
    # Kernels must be this environment's Python (jupyter_client maps "python" to sys.executable,
    # and PATH covers anything else that looks for it).
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")

    port, token = _free_port(), secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.token={token}",
           f"--ServerApp.root_dir={root}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log = base / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    lab = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, log=log,
              artifacts=base / "artifacts")
    lab.artifacts.mkdir()
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with status {proc.returncode}:\n{lab.log_tail()}",
                            pytrace=False)
            try:
                with urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {SERVER_START_TIMEOUT} s:\n"
                            f"{lab.log_tail()}", pytrace=False)
            time.sleep(0.25)
        yield lab
    finally:
        proc.send_signal(signal.SIGTERM)  # the server shuts its kernels down
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, driven by Playwright."""
    missing = _browser_missing()
    if missing:
        skip_or_fail(missing)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        pw.stop()


def new_page(browser):
    """A page in a fresh browser context (no state shared with other pages)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


@pytest.fixture
def page(browser, lab, request):
    """A fresh browser page; a screenshot of it is saved if the test fails."""
    page = new_page(browser)
    context = page.context
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = lab.artifacts / f"{request.node.name}.png".replace("/", "_")
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failed page: {shot}\nserver log tail:\n{lab.log_tail()}")
        except Exception as exc:  # the page may be gone; the test's own error matters more
            print(f"could not take a screenshot: {exc}")
    context.close()
    lab.shutdown_kernels()  # one lesson's kernel at a time: the machine has 2 cores


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the test item, so `page` can tell whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter):
    """Per notebook: explorers and controls driven, moves made, seconds taken; and the total."""
    if not REPORT:
        return
    write = terminalreporter.write_line
    terminalreporter.section("explorers driven in the browser")
    head = ["explorers", "sliders", "toggle buttons", "checkboxes", "buttons", "moves"]
    write(f"{'notebook':34} " + " ".join(head) + "  run all   drive  problems")
    total = 0.0
    for run in REPORT:
        counts = run.counts()
        total += run.run_all_s + run.drive_s
        write(f"{run.name:34} " + " ".join(f"{counts[h]:>{len(h)}}" for h in head)
              + f"  {run.run_all_s:6.1f}s {run.drive_s:6.1f}s {len(run.all_problems()):>9}")
        for e in run.explorers:
            controls = ", ".join(f"{kind} {label}" for kind, label in e.controls)
            buttons = "".join(f", button {b}" for b in e.buttons)
            write(f"    {e.title.split(' (')[0]} {e.prompt.rstrip(':')}: {controls}{buttons}: "
                  f"{e.moves} moves, {e.seconds:.1f}s")
    write(f"total: {total:.0f} s for {len(REPORT)} notebooks (run all + drive; server and browser "
          f"start-up not included)")

"""The lessons' static JupyterLite site (``make site``), offline, in a real browser.

The built site (build/site, or $CONVLAB_SITE_DIR) is served by a plain static file server on
127.0.0.1 and opened in Debian's headless Chromium (Playwright). The kernel is Pyodide: convlab,
numpy, matplotlib and ipywidgets all come from the site itself. For lessons 00-05: Run All with no
error output (the lesson's first cell installs convlab from the site), then one control of every
explorer moved (to its maximum and minimum, and back) with its view seen to change; lesson 02
also runs one implement-it check with the solution and must print PASS. Lessons 06-09: the
shipped nets they use are loaded and evaluated on the site's copies of the test sets (in one
kernel; their Run All trains nets, too slow for CI in the browser: CONVLAB_SITE_RUN_ALL=all).

Any request to a host other than 127.0.0.1 (from the page or its workers, as Playwright's
request events for the browser context report them) fails the test: the site must work offline.
Without a built site the tests are skipped, or fail under CONVLAB_REQUIRE_BROWSER=1 (CI), where
`make test-site` builds it first.

Timings (kernel start, Run All per lesson) are printed at the end of the module and written to
site-timings.txt beside the site (``SITE_REPORT``); docs/site.md quotes them.
CONVLAB_SITE_RUN_ALL=all also runs lessons 06-09 whole (slow: for measuring, not for CI).
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

from . import driver
from .conftest import ROOT, skip_or_fail

pytestmark = pytest.mark.browser

SITE = Path(os.environ.get("CONVLAB_SITE_DIR", ROOT / "build" / "site"))
LESSONS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Lessons run whole (Run All); CONVLAB_SITE_RUN_ALL=all runs every lesson so (to measure them:
# lessons 06-09 train and evaluate nets, minutes in the browser, beyond the CI budget).
RUN_ALL = [n for n in LESSONS if n[:2] <= "05" or os.environ.get("CONVLAB_SITE_RUN_ALL") == "all"]
EVALUATE = {  # lesson -> (a shipped net it uses, dataset) to load and evaluate
    "06_training.ipynb": ("simple", "mnist"),
    "07_what_the_network_sees.ipynb": ("simple", "mnist"),
    "08_classic_cnns.ipynb": ("lenet", "mnist"),
    "09_fashion_mnist.ipynb": ("simple", "fashion-mnist"),
}
KERNEL_START_TIMEOUT = 180  # seconds: Pyodide, numpy and matplotlib load in the browser
SITE_REPORT: list[tuple[str, str, float]] = []  # (lesson, what, seconds)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no line per request on stderr
        pass


@pytest.fixture(scope="module")
def site():
    """The built site served on 127.0.0.1 (a free port) by Python's static file server."""
    if not (SITE / "jupyter-lite.json").is_file():
        skip_or_fail(f"no built site in {SITE}: run `make site` first")
    handler = functools.partial(_Quiet, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Requests:
    """Every request of a browser context (its pages and their workers), by host."""

    def __init__(self):
        self.foreign, self.failed = [], []

    def seen(self, req):
        url = req.url
        local = url.startswith(("data:", "blob:"))
        if not local and urllib.parse.urlsplit(url).hostname != "127.0.0.1":
            self.foreign.append(url)

    def watch(self, target):
        target.on("request", self.seen)
        target.on("requestfailed", lambda req: self.failed.append(f"{req.url} ({req.failure})"))


@pytest.fixture(scope="module")
def site_context(browser, site):
    """One browser context for the module: its HTTP cache (and Chromium's cache of compiled
    WebAssembly) is shared by the lessons, as for a learner going from one to the next."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requests = _Requests()
    requests.watch(context)
    yield context, requests
    context.close()


@pytest.fixture
def site_page(site_context, request):
    """A fresh page; any request to a host other than 127.0.0.1 during the test fails it."""
    context, requests = site_context
    requests.foreign.clear()
    requests.failed.clear()
    page = context.new_page()
    page.set_default_timeout(30_000)
    requests.watch(page)  # the page's dedicated workers (the kernel) report here too
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = SITE.parent / f"site-{request.node.name}.png".replace("/", "_")
        try:
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the failed page: {shot}")
        except Exception as exc:
            print(f"could not take a screenshot: {exc}")
    page.close()
    if requests.failed:
        print("requests that failed:\n  " + "\n  ".join(requests.failed))
    assert not requests.foreign, ("the site asked hosts other than 127.0.0.1 for:\n  "
                                  + "\n  ".join(sorted(set(requests.foreign))))


def test_a_request_to_another_host_is_caught():
    """The guard itself (no browser): what counts as a request that leaves 127.0.0.1."""
    from types import SimpleNamespace

    requests = _Requests()
    for url in ("http://127.0.0.1:8000/static/pyodide/pyodide.js", "data:image/png;base64,AAAA",
                "blob:http://127.0.0.1:8000/1234", "https://cdn.jsdelivr.net/pyodide/v0.27.7/full/",
                "http://localhost:8000/lab", "https://pypi.org/pypi/convlab/json"):
        requests.seen(SimpleNamespace(url=url))
    assert requests.foreign == ["https://cdn.jsdelivr.net/pyodide/v0.27.7/full/",
                                "http://localhost:8000/lab", "https://pypi.org/pypi/convlab/json"]


def open_lesson(page, site: str, name: str) -> float:
    """Open lesson ``name`` of the site in JupyterLab and wait for its kernel; the seconds taken."""
    t0 = time.monotonic()
    page.goto(f"{site}/lab/index.html?path={name}")
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current", has_text=name).wait_for(
        timeout=120_000)
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    driver.wait_until(lambda: driver.kernel_idle(page), KERNEL_START_TIMEOUT,
                      "the Pyodide kernel to start (status bar '| Idle')")
    return time.monotonic() - t0


def run_all(page, name: str, timeout: float = driver.RUN_ALL_TIMEOUT) -> float:
    """Clear the open lesson's outputs, Run All Cells, wait until every code cell has run with no
    error output and the kernel is idle (driver.run_all_cells: the page is not opened again,
    which would start a second kernel); the seconds taken."""
    t0 = time.monotonic()
    driver.run_all_cells(page, name, timeout, where="the site")
    return time.monotonic() - t0


def run_new_cell(page, code: str, timeout: float = 300) -> str:
    """Add a code cell at the end of the open notebook, run it and return its output text."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    cells.last.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # command mode: a new cell below, selected
    driver.wait_until(lambda: cells.count() > 0 and "jp-mod-active" in (
        cells.last.get_attribute("class") or ""), 10, "the new cell")
    new = cells.nth(cells.count() - 1)
    new.locator(".cm-content").click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Control+Enter")  # run it in place (Shift+Enter would add a cell)
    prompt = new.locator(".jp-InputPrompt")

    def raise_if_error():
        errors = driver.page_tracebacks(page)
        if errors:
            raise AssertionError(f"the cell\n{code}\nshowed an error:\n{errors[-1]}")

    def done():  # done first, then errors: as in driver.run_all_cells
        ran = re.fullmatch(r"\[\d+\]:", prompt.inner_text().strip()) and driver.kernel_idle(page)
        raise_if_error()
        return ran

    driver.wait_until(done, timeout, f"the cell\n{code}\nto run")
    time.sleep(driver.SETTLE_S)
    raise_if_error()
    return new.locator(".jp-OutputArea").inner_text()


def move_one_control_each(page, name: str) -> list[str]:
    """Move the first control of every explorer of the open, fully run notebook (the driver's own
    moves: to the maximum, the minimum and back) and return the problems seen."""
    found = driver.survey(page)
    problems = []
    for info in found["explorers"]:
        ex = driver._Explorer(page, info, driver.REACT_TIMEOUT, driver.ACTION_TIMEOUT)
        known = [c for c in info["controls"] if c["kind"]]
        if known:
            c = known[0]
            el = ex.box.locator(f'[data-convlab-control="{c["index"]}"]')
            ex.box.scroll_into_view_if_needed()
            getattr(ex, c["kind"].replace(" ", "_"))(el, c["label"] or f"control {c['index']}")
            if not ex.run.moves:
                problems.append(f"{ex.run.title}: its first control could not be moved")
        elif info["buttons"]:
            ex.button(0, info["buttons"][0])
        problems += [f"{ex.run.title}: {p}" for p in ex.run.problems]
    return problems


@pytest.mark.parametrize("name", RUN_ALL)
def test_lesson_runs_in_the_browser(site_page, site, name):
    page = site_page
    SITE_REPORT.append((name, "open + kernel start", open_lesson(page, site, name)))
    SITE_REPORT.append((name, "Run All", run_all(page, name)))
    problems = move_one_control_each(page, name)
    assert not problems, f"{name}: " + "\n\n".join(problems)
    if name.startswith("02_"):
        out = run_new_cell(page, "check_conv2d_naive(solutions.conv2d_naive)")
        assert out.strip().startswith("PASS"), out


def test_shipped_weights_evaluate_in_the_browser(site_page, site):
    """Lessons 06-09's shipped nets, loaded and evaluated on the site's test sets, in one kernel
    (one kernel start instead of four: the CI budget)."""
    page = site_page
    name = min(EVALUATE)
    SITE_REPORT.append((name, "open + kernel start", open_lesson(page, site, name)))
    code = ["import piplite",
            'await piplite.install("convlab")',
            "from convlab.data import load_dataset",
            "from convlab.pretrained import load_pretrained",
            "test = {}"]
    for lesson, (net, dataset) in sorted(EVALUATE.items()):
        # No indented lines: the editor would indent them again as they are typed in.
        code += [f'x, t = test.get("{dataset}") or test.setdefault("{dataset}", '
                 f'load_dataset("{dataset}", flatten=False)[1])',
                 f'acc = load_pretrained("{net}", dataset="{dataset}").accuracy(x[:500], t[:500])',
                 f'print("{lesson} {net} {dataset}: accuracy", f"{{acc:.3f}}", "on", len(x[:500]))']
    t0 = time.monotonic()
    out = run_new_cell(page, "\n".join(code))
    SITE_REPORT.append((name, "load + evaluate 4 nets", time.monotonic() - t0))
    for lesson, (net, dataset) in EVALUATE.items():
        match = re.search(rf"{lesson} {net} {dataset}: accuracy ([0-9.]+) on 500", out)
        assert match, f"no accuracy line for {lesson} in:\n{out}"
        assert float(match.group(1)) > 0.8, out  # a trained net, not chance (0.1)


@pytest.fixture(scope="module", autouse=True)
def _print_timings(request):
    """The seconds each step took, printed after the module's tests (docs/site.md quotes them)."""
    yield
    if not SITE_REPORT:
        return
    lines = ["", "the site in the browser (seconds):"]
    lines += [f"  {lesson:34} {what:22} {seconds:6.1f}" for lesson, what, seconds in SITE_REPORT]
    (SITE.parent / "site-timings.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n".join(lines))

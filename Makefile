# convlab: set-up, lessons, tests.
#
#   make lab        install into .venv (if needed) and open the lessons in JupyterLab
#   make test       install into .venv (if needed) and run the whole suite:
#                   unit tests, strict nbval over every notebook, the real-browser tests
#   make test-quick the unit tests without the ones marked slow, Hypothesis's 'quick' profile
#                   (about a minute; run `make test` before you push)
#   make site       build the lessons as a static site (JupyterLite, runs in the browser) into
#                   build/site; serve it: python3 -m http.server -d build/site 8000
#
# Other targets: install, test-unit, test-notebooks, test-browser, test-site, test-py310, data,
# notebooks, bench, clean. Only Python 3 (>= 3.10), make and bash are needed; everything else goes into .venv.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# No .pytest_cache in the work tree; -ra (from pyproject.toml) lists skips and failures.
PYTEST := $(PY) -m pytest -p no:cacheprovider

# The install is redone only when pyproject.toml is newer than this stamp.
STAMP  := $(VENV)/.convlab-installed

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
SANITIZE  := notebooks/nbval_sanitize.cfg

.PHONY: help install lab test test-quick test-unit test-notebooks test-browser test-site site \
        test-py310 data notebooks bench clean distclean

help:
	@sed -n '3,13p' Makefile | sed 's/^# \{0,1\}//'

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "convlab needs Python >= 3.10; this $(PYTHON) is " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --disable-pip-version-check -q -e '.[lab,test]'
	@touch $@

install: $(STAMP)

# (--allow-root only when run as root, e.g. in a container: Jupyter refuses root otherwise.)
lab: install
	$(VENV)/bin/jupyter lab notebooks/00_start_here.ipynb $(if $(filter 0,$(shell id -u)),--allow-root)

# The whole suite. Every part runs even if an earlier one fails; the exit status is non-zero if
# any failed. CONVLAB_REQUIRE_MNIST=1 / CONVLAB_REQUIRE_BROWSER=1 (set by .ci/run) turn the
# skips for missing MNIST files / missing chromium into failures.
test: install
	@status=0; t0=$$SECONDS; \
	for part in test-unit test-notebooks test-browser test-site; do \
	  t=$$SECONDS; \
	  $(MAKE) --no-print-directory $$part || { status=1; echo "*** $$part FAILED"; }; \
	  echo "=== $$part took $$((SECONDS - t)) s"; \
	done; \
	echo "=== make test took $$((SECONDS - t0)) s in all"; \
	exit $$status

test-unit: install
	$(PYTEST) tests --ignore=tests/browser --durations=10

# The quick tier, for while you work: the unit tests minus @pytest.mark.slow (trained nets scored
# on MNIST, subprocess runs, whole-slider explorer sweeps, ...) with fewer Hypothesis examples.
# `make test` (what CI runs) still runs everything.
test-quick: install
	HYPOTHESIS_PROFILE=quick $(PYTEST) tests --ignore=tests/browser -m 'not slow' -q --durations=5

# Strict nbval (not --nbval-lax), one notebook per pytest run so each lesson's run time is shown
# and a failure in one lesson does not hide the others. A lesson whose data is not on disk (its
# metadata "convlab": {"needs": [...]}) is not run: SKIPPED, with one line saying how to get the
# data, or FAILED under CONVLAB_REQUIRE_MNIST=1 (scripts/notebook_needs.py; it downloads nothing).
test-notebooks: install
	@if [ -z "$(NOTEBOOKS)" ]; then echo "no notebooks in notebooks/"; exit 1; fi; \
	status=0; \
	runnable=$$($(PY) scripts/notebook_needs.py $(NOTEBOOKS)) || status=1; \
	ran=0; \
	for nb in $$runnable; do \
	  t=$$SECONDS; ran=$$((ran + 1)); \
	  $(PYTEST) -q --nbval --nbval-current-env --nbval-sanitize-with $(SANITIZE) \
	    --nbval-cell-timeout=300 "$$nb" \
	    || { status=1; echo "*** $$nb FAILED"; }; \
	  echo "=== nbval $$nb: $$((SECONDS - t)) s"; \
	done; \
	echo "=== test-notebooks: $$ran of $(words $(NOTEBOOKS)) lessons run" \
	  "($$(( $(words $(NOTEBOOKS)) - ran )) not run for missing data or bad metadata, see above)"; \
	exit $$status

test-browser: install
	$(PYTEST) tests/browser -v --ignore=tests/browser/test_site.py

# The lessons as a static JupyterLite site (Pyodide kernel) in $(SITE): scripts/build_site.py
# (downloads the Pyodide core with npm and the pinned wheels with pip, once, into build/cache-site;
# every Pyodide wheel is checked against the official lock's sha256). The data is copied from
# $$CONVLAB_MNIST_DIR / $$CONVLAB_FASHION_MNIST_DIR (or data/). test-site serves it on 127.0.0.1 and
# runs the lessons in headless chromium, offline.
SITE       ?= build/site
SITE_STAMP := $(VENV)/.convlab-site-installed

$(SITE_STAMP): pyproject.toml | $(STAMP)
	$(PIP) install --disable-pip-version-check -q -e '.[lab,test,site]'
	@touch $@

site: install $(SITE_STAMP)
	$(PY) scripts/build_site.py --out $(SITE) $(if $(filter 1,$(CONVLAB_REQUIRE_MNIST)),--require-data)

# (tests/test_site_build.py again here: its checks of the built site and of the build's refusal
# of a changed wheel need the site and the build cache, which test-unit runs before.)
test-site: site
	CONVLAB_SITE_DIR=$(abspath $(SITE)) $(PYTEST) tests/test_site_build.py tests/browser/test_site.py -v

# The unit tests again under the lowest Python the project supports, 3.10 (python3.10 on PATH,
# else pyenv's), in their own venv $(VENV310) without torch or JupyterLab, so that a construct
# newer than 3.10 cannot slip in. Hypothesis runs its 'quick' profile here (the full one runs in
# test-unit). When no Python 3.10 is found: one SKIPPED line, exit 0.
VENV310 ?= .venv310
test-py310:
	@py=""; \
	for c in python3.10 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10*/bin/python3.10; do \
	  if "$$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then \
	    py=$$c; break; \
	  fi; \
	done; \
	if [ -z "$$py" ]; then echo "=== SKIPPED test-py310: no Python 3.10 on this machine"; exit 0; fi; \
	if ! $(VENV310)/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then \
	  rm -rf $(VENV310) && "$$py" -m venv $(VENV310); \
	fi; \
	if [ ! -f $(VENV310)/.convlab-installed ] || [ pyproject.toml -nt $(VENV310)/.convlab-installed ]; then \
	  $(VENV310)/bin/python -m pip install --disable-pip-version-check -q -e '.[test]'; \
	  touch $(VENV310)/.convlab-installed; \
	fi; \
	echo "=== unit tests under $$($(VENV310)/bin/python --version) ($$py)"; \
	HYPOTHESIS_PROFILE=quick $(VENV310)/bin/python -m pytest -p no:cacheprovider tests \
	  --ignore=tests/browser -q

# Download the datasets the lessons use into data/ (only what is missing).
data: install
	$(PY) -m convlab.data mnist fashion-mnist

# Re-execute every lesson in place, in order (after library changes). CONVLAB_MNIST_DIR is
# passed on to the kernels. Add NB=notebooks/03_pooling.ipynb to run just one.
notebooks: install
	$(PY) scripts/execute_notebooks.py $(NB)

bench: install
	$(PY) bench/run.py

clean:
	rm -rf .pytest_cache .hypothesis build dist
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(VENV310) *.egg-info

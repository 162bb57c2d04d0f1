# The README's two commands: `make app` starts the web app, `make test` runs every test, tier by tier
# (fast, real, e2e: docs/development.md), stopping at the first tier that fails.
# PYTHON may name a virtual environment's interpreter (.ci/run does: PYTHON=$venv/bin/python).
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --disable-pip-version-check -q

.PHONY: install install-test browser presets app test test-fast test-real test-e2e lint screenshots

install:
	$(PIP) torch==2.13.0  # here: the local CPU build; an unpinned torch pulls GBs of CUDA packages
	$(PIP) -e .

install-test:
	$(PIP) torch==2.13.0
	$(PIP) -e ".[test]"

browser:  # Debian's chromium for the Playwright tests (Playwright's own browser download is not used)
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

presets:  # fetch and convert the built-in models and tokenizers into the cache (once)
	$(PYTHON) -m vocablab presets --fetch-all

app: install
	$(PYTHON) app.py

PYTEST = $(PYTHON) -m pytest -q

# In this order, stopping at the first that fails: the fast tier runs before the presets are fetched.
test: test-fast test-real test-e2e

test-fast: install-test  # tiny tokenizers and models built in code: no presets, network or browser
	$(PYTEST) -m "not real and not e2e"

test-real: install-test presets  # the preset models and tokenizers, the family matrix, the doctests
	$(PYTEST) -m "real and not e2e"

test-e2e: install-test browser presets  # the app, in a browser too, and the hub server
	$(PYTEST) -m e2e

lint: install-test  # undeclared imports, lint, formatting
	$(PYTHON) -m deptry .
	$(PYTHON) -m ruff check vocablab tests benchmarks app.py
	$(PYTHON) -m ruff format --check vocablab tests benchmarks app.py

screenshots: install-test browser presets  # the README's pictures, taken by the browser tests
	@fc-list | grep -qi "Noto Sans CJK" || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq fonts-noto-cjk fonts-noto-color-emoji >/dev/null)  # CJK and emoji glyphs
	VOCABLAB_SCREENSHOTS=assets/screenshots $(PYTEST) -m e2e tests/test_app_browser.py

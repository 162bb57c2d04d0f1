# The README's two commands: `make app` starts the web app, `make test` runs every test.
# PYTHON may name a virtual environment's interpreter (.ci/run does: PYTHON=$venv/bin/python).
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --disable-pip-version-check -q

.PHONY: install install-test browser presets app test lint screenshots

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

test: install-test browser presets
	$(PYTHON) -m pytest -q

lint: install-test  # undeclared imports, lint, formatting
	$(PYTHON) -m deptry .
	$(PYTHON) -m ruff check vocablab tests benchmarks app.py
	$(PYTHON) -m ruff format --check vocablab tests benchmarks app.py

screenshots: install-test browser presets  # the README's pictures, taken by the browser tests
	@fc-list | grep -qi "Noto Sans CJK" || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq fonts-noto-cjk fonts-noto-color-emoji >/dev/null)  # CJK and emoji glyphs
	VOCABLAB_SCREENSHOTS=assets/screenshots $(PYTHON) -m pytest -q -m browser tests/test_app_browser.py

# The README's two commands: `make app` starts the web app, `make test` runs every test.
PYTHON ?= python3
PIP = $(PYTHON) -m pip install --disable-pip-version-check -q

.PHONY: install install-test browser presets app test lint

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

lint:
	$(PYTHON) -m ruff check vocablab tests benchmarks app.py

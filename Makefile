# The two commands a fresh machine needs: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE_DIR ?= .state/demo
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-fast lint venv clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -c 'import sys; sys.exit("wavelift needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

venv: $(BIN)/.installed

# The browser test drives Debian's Chromium (Playwright never downloads a browser here).
$(CHROMIUM):
	$(SUDO) apt-get install -y -q chromium || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

demo: venv
	$(BIN)/wavelift demo --state-dir $(STATE_DIR)

# Four pytest-xdist workers: most tests wait on the emulator's clock or a Prefect server, not on a core.
test: venv $(CHROMIUM) lint
	$(BIN)/python -m pytest -q -n 4

# ruff: pyflakes, pycodestyle (120 columns), bugbear, import order, pyupgrade, and its formatter.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The fast layer: pure rules, file readers and adapters, no emulator or Prefect server (under a minute).
test-fast: venv
	$(BIN)/python -m pytest -q -m "not integration"

clean:
	rm -rf $(VENV) .state

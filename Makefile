# Two commands on a fresh Linux machine: `make serve` and `make test` (see README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch first, pinned: open-clip-torch imports torchvision, and PyPI's torchvision only
# imports beside the torch release it was built for (2.14.1 <-> 0.29.1).
TORCH  := torch==2.14.1 torchvision==0.29.1

.PHONY: install dev serve test browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

# The storefront's end-to-end test drives Debian's Chromium (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium; } \
	  || echo "chromium could not be installed: the browser test will be skipped"

serve: install
	$(BIN)/tailorcard serve

test: dev browser
	$(BIN)/pytest

clean:
	rm -rf $(VENV) var instance .pytest_cache

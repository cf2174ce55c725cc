# DPM Desktop — every set-up step lives here so that a fresh machine needs only `make <target>`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)

.PHONY: install test test-fast lint bench run package clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e ".[gui,dev]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

test: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

test-fast: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check dpm_desktop tests benchmarks scripts

bench: install
	$(PIP) install -q -c constraints.txt -e ".[gui,dev,bench]"
	$(BIN)/python -m benchmarks.run_all

run: install
	$(BIN)/dpm-desktop resources/sample.jpg

# The installable package (README "Packaging"): build/out/<cpu|cuda>/dpm-desktop/ and a .tar.gz.
# TORCH=cuda builds with a CUDA torch in its own venv (build/work/venv-cuda).
TORCH ?= cpu
package: install
	$(PIP) install -q -c constraints.txt -e ".[gui,package]"
	$(BIN)/python build/build.py --torch $(TORCH)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build/out build/work

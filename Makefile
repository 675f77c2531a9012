# One-command set-up: every target creates or updates .venv itself (idempotent).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= smoke
NB ?= all

.PHONY: setup test book notebooks smoke clean

$(STAMP): requirements.txt requirements-dev.txt requirements-book.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -r requirements-book.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)

## test: the whole test suite (what CI runs)
test: $(STAMP)
	bash scripts/setup_browser.sh
	source $(BIN)/activate && bash scripts/build_book.sh
	$(BIN)/python -m pytest -q

## book: build the book from the committed results and print where it is
book: $(STAMP)
	source $(BIN)/activate && bash scripts/build_book.sh

## smoke: the tiny end-to-end pipeline (pretrain, fine-tune, classify) on a CPU in a few minutes
smoke: $(STAMP)
	$(BIN)/python -m ulmfit_core.smoke

clean:
	rm -rf book/_build .pytest_cache

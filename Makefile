# One-command set-up: every target creates or updates .venv itself (idempotent).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= smoke
NB ?= all

.PHONY: setup test nbval book notebooks pack smoke clean

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
	$(MAKE) nbval

## nbval: re-execute the committed smoke notebooks from scratch (fresh results and cache folders)
##        and compare every checked cell with its committed output. This and `make notebooks SCALE=smoke`
##        run the smoke scale as an AVX2 processor would (MKL, PyTorch's own kernels and oneDNN held to
##        AVX2), so that a processor with AVX-512 gives the committed digits; unpinned, it changes the last ones
AVX2_ONLY := MKL_CBWR=AVX2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
nbval: $(STAMP)
	tmp=$$(mktemp -d) && $(AVX2_ONLY) ULMFIT_RESULTS=$$tmp/results ULMFIT_CACHE=$$tmp/cache \
	  $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax \
	  --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks/executed/smoke; \
	  status=$$?; rm -rf $$tmp; exit $$status

## notebooks: execute the notebooks at a scale (SCALE=smoke|reduced|gpu|paper, NB=all or e.g. "03 07")
notebooks: $(STAMP)
	$(if $(filter smoke,$(SCALE)),$(AVX2_ONLY)) $(BIN)/python -m ulmfit_core.notebooks --scale $(SCALE) $(if $(filter-out all,$(NB)),--only $(NB))

## pack: tokenise a scale's inputs into a folder of token ids (default the gpu scale, into gpu_pack/);
##       ULMFIT_PACK=gpu_pack make notebooks SCALE=gpu then runs without the data folder
pack: $(STAMP)
	$(BIN)/python -m ulmfit_core.pack --scale $(or $(SCALE),gpu) --out $(or $(OUT),gpu_pack)

## book: build the book from the committed results and print where it is
book: $(STAMP)
	source $(BIN)/activate && bash scripts/build_book.sh

## smoke: the tiny end-to-end pipeline (pretrain, fine-tune, classify) on a CPU in a few minutes
smoke: $(STAMP)
	$(BIN)/python -m ulmfit_core.smoke

clean:
	rm -rf book/_build .pytest_cache

# One-command set-up: every target creates or updates .venv itself (idempotent).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= smoke
NB ?= all

.PHONY: setup test nbval book preflight notebooks runs prune pack gpu-prepare gpu-restore gpu-run gpu-import smoke clean

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

## preflight: list every input the notebooks read at a scale, check it is there, estimate the compute
##            (SCALE=..., NB=...); FETCH=1 first downloads the missing inputs that have a pinned source
preflight: $(STAMP)
	$(BIN)/python -m ulmfit_core.harness.preflight --scale $(SCALE) $(if $(filter-out all,$(NB)),--only $(NB)) $(if $(FETCH),--fetch)

## notebooks: execute the notebooks at a scale (SCALE=smoke|reduced|gpu|paper, NB=all or e.g. "03 07");
##            the preflight runs first and stops before any compute if an input is missing
notebooks: $(STAMP)
	$(if $(filter smoke,$(SCALE)),$(AVX2_ONLY)) $(BIN)/python -m ulmfit_core.harness.notebooks --scale $(SCALE) $(if $(filter-out all,$(NB)),--only $(NB))

## runs: make the book's missing runs at a scale first, in order of value, resumable (SCALE=reduced; KINDS=baseline
##       for the linear baselines only; THREADS=1 to run two side by side); `make notebooks` then shows them
runs: $(STAMP)
	$(BIN)/python -m ulmfit_core.harness.worker --scale $(SCALE) $(if $(KINDS),--kinds $(KINDS)) $(if $(filter-out all,$(NB)),--chapters $(NB)) $(if $(THREADS),--threads $(THREADS))

## prune: list the run records of a scale that no chapter reads any more (SCALE=reduced); DELETE=1 removes them
prune: $(STAMP)
	$(BIN)/python -m ulmfit_core.harness.prune --scale $(SCALE) $(if $(DELETE),--delete)

## pack: tokenise a scale's inputs into a folder of token ids (default the gpu scale, into gpu_pack/);
##       ULMFIT_PACK=gpu_pack make notebooks SCALE=gpu then runs without the data folder
pack: $(STAMP)
	$(BIN)/python -m ulmfit_core.harness.pack_build --scale $(or $(SCALE),gpu) --out $(or $(OUT),gpu_pack)

## gpu-prepare: before a call to a GPU machine: build the pack if missing or stale, set aside (in
##              .cache/travel-aside/) every file the scale does not read, and check that the tree and the pack
##              fit the 64 MiB a call carries (refused, moving nothing, if not); GPU_SCALE=gpu by default
## gpu-restore: put back everything gpu-prepare set aside
## gpu-run:     on the GPU machine (no .venv there): the driver for BUDGET seconds, its output into OUT
## gpu-import:  add the results a call brought back (FROM=folder of results-NN.zip) to results/
GPU_SCALE ?= gpu
BUDGET ?= 570
gpu-prepare: $(STAMP)
	$(BIN)/python -m ulmfit_core.harness.travel prepare --scale $(GPU_SCALE) --pack $(or $(PACK),gpu_pack)

gpu-restore:
	$(if $(wildcard $(BIN)/python),$(BIN)/python,python3) -m ulmfit_core.harness.travel restore

gpu-run:
	$(or $(GPU_PYTHON),python3) -m ulmfit_core.harness.gpu_driver --scale $(GPU_SCALE) --budget-s $(BUDGET) --out $(or $(OUT),$(error set OUT to the output folder))

gpu-import: $(STAMP)
	$(BIN)/python -m ulmfit_core.harness.gpu_import $(or $(FROM),$(error set FROM to the folder the results came back to))

## book: build the book from the committed results and print where it is
book: $(STAMP)
	source $(BIN)/activate && bash scripts/build_book.sh

## smoke: the tiny end-to-end pipeline (pretrain, fine-tune, classify) on a CPU in a few minutes
smoke: $(STAMP)
	$(BIN)/python -m ulmfit_core.harness.smoke

clean:
	rm -rf book/_build .pytest_cache

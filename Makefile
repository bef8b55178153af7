# bpho: `make demo` runs the main job on the sample data, `make test` the whole suite.
# Both create .venv with the pinned stack first if it is missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ROOT ?= demo
PEER_WORK ?= bench/.peer-work

.DEFAULT_GOAL := help
.PHONY: help venv demo transfer-seeds test test-profiles test-slow check-sync export lock clean-demo bench bench-peer bench-peer-averaging bench-gpu

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "bpho needs Python 3.12 (see .python-version); set PYTHON=/path/to/python3.12")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)  ## create .venv with the pinned stack (torch, fastai, nbdev, czifile, ...)

demo: $(STAMP)  ## the main job on the sample data, under ./demo: sources, datasets, experiments, prediction, results
	@echo "== bpho demo: data root $(DEMO_ROOT)/ =="
	$(BIN)/bpho --root $(DEMO_ROOT) sample
	$(BIN)/bpho --root $(DEMO_ROOT) datasources verify --full
	$(BIN)/bpho --root $(DEMO_ROOT) datasources list
	$(BIN)/bpho --root $(DEMO_ROOT) info $(DEMO_ROOT)/datasources/sample_pairs_mito/lr/fov_00.czi $(DEMO_ROOT)/datasources/sample_pairs_mito/hr/fov_00.czi
	$(BIN)/python scripts/dataset/paired_001.py --root $(DEMO_ROOT) --source sample_pairs_mito
	$(BIN)/python scripts/dataset/synth_001.py --root $(DEMO_ROOT) --source sample_pairs_mito
	$(BIN)/python scripts/dataset/synth_002.py --root $(DEMO_ROOT) --source sample_pairs_mito --lr-source sample_pairs_mito
	$(BIN)/python scripts/dataset/multiframe_001.py --root $(DEMO_ROOT) --source sample_mito_movies_hr
	$(BIN)/python scripts/dataset/denoise_001.py --root $(DEMO_ROOT) --source sample_denoise
	$(BIN)/python scripts/dataset/emsynth_001.py --root $(DEMO_ROOT) --source sample_em
	$(BIN)/python scripts/dataset/emsynth_002.py --root $(DEMO_ROOT) --source sample_em
	$(BIN)/python scripts/dataset/emseg_001.py --root $(DEMO_ROOT) --source sample_em_labelled
	$(BIN)/python scripts/dataset/emseg3d_001.py --root $(DEMO_ROOT) --source sample_vol_em_labelled
	$(BIN)/python scripts/dataset/exmseg3d_001.py --root $(DEMO_ROOT) --source sample_vol_fluo_labelled
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/101_paired_001_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/102_synth_001_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/201_cyclegan_hr2lr.ipynb --smoke
	$(BIN)/python scripts/dataset/cyclegan_synth_001.py --root $(DEMO_ROOT) --source sample_pairs_mito
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/106_cyclegan_synth_001_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/204_cyclegan_resnet_hr2lr.ipynb --smoke
	$(BIN)/python scripts/dataset/cyclegan_synth_002.py --root $(DEMO_ROOT) --source sample_pairs_mito
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/108_cyclegan_synth_002_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/107_synth_002_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/105_emsynth_001_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/109_emsynth_002_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/301_emseg_001_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/302_emseg3d_001_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/203_ccgan_em2exm.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/203_ccgan_em2exm.ipynb --smoke --set CONFIGURATION=vanilla --set EXPERIMENT=203_ccgan_em2exm_vanilla
	$(BIN)/python scripts/dataset/exmtransfer_001.py --root $(DEMO_ROOT) --source sample_vol_em_labelled
	$(BIN)/python scripts/dataset/exmtransfer_002.py --root $(DEMO_ROOT) --source sample_vol_em_labelled
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/303_exmtransfer_unet.ipynb --smoke --set DATASET=exmtransfer_001 --set EXPERIMENT=303_exmtransfer_001_unet --set TABLE=None
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/303_exmtransfer_unet.ipynb --smoke --set DATASET=exmseg3d_001 --set EXPERIMENT=303_exmseg3d_001_unet --set TABLE=None
	$(BIN)/bpho --root $(DEMO_ROOT) experiment nbs/303_exmtransfer_unet.ipynb --smoke
	$(BIN)/bpho --root $(DEMO_ROOT) predict $(DEMO_ROOT)/models/101_paired_001_unet $(DEMO_ROOT)/datasources/sample_mito_movies_lr/movie_00.czi -o $(DEMO_ROOT)/predictions --overwrite
	$(BIN)/bpho --root $(DEMO_ROOT) export $(DEMO_ROOT)/models/101_paired_001_unet -o $(DEMO_ROOT)/exports/101_paired_001_unet --overwrite
	$(BIN)/bpho --root $(DEMO_ROOT) results
	@echo "== demo done: sources, datasets, experiments 101, 102, 201, 106, 204, 108, 107 (the synthetic-LR table), 105 and 109 (the same for EM), 301 and 302 (smoke), 203 and 303 (EM carried into ExM style by the CCGAN and a plain CycleGAN, segmenters scored on ExM: results/303_exmtransfer_unet/transfer.json), a predicted movie in $(DEMO_ROOT)/predictions/, 101 as a bioimage.io package in $(DEMO_ROOT)/exports/, results in $(DEMO_ROOT)/results/README.md =="

transfer-seeds: $(STAMP)  ## after make demo: the EM -> ExM transfer table over seeds 0, 1, 2 (seed 0 is the demo's; ~20 min more on 2 cores)
	$(BIN)/python scripts/transfer_seeds.py --root $(DEMO_ROOT) --seeds 0 1 2

bench: $(STAMP)  ## benchmarks written to BENCHMARKS.md: dataset builds, training step, prediction, CARE peer, 3D segmentation (~15 min on 2 cores, then ~6 for the segmentation bench)
	@W=$$(mktemp -d -t bpho-bench-XXXXXX); trap 'rm -rf "$$W"' EXIT; set -e; \
	$(BIN)/python bench/common.py --header --out BENCHMARKS.md; \
	time $(BIN)/python bench/datasets.py --repeats 2 --out BENCHMARKS.md; \
	time $(BIN)/python bench/train.py --work "$$W" --out BENCHMARKS.md; \
	time $(BIN)/python bench/predict.py --out BENCHMARKS.md; \
	time $(BIN)/python bench/peer.py --work "$$W" --out BENCHMARKS.md; \
	time $(BIN)/python bench/segment.py --work "$$W" --out BENCHMARKS.md; \
	echo "== bench done: BENCHMARKS.md =="

bench-peer: $(STAMP)  ## bpho vs CARE (CAREamics) at 2, 5 and 20 min of training, 3 seeds each, into BENCHMARKS.md (about 2.7 h; each run's row is kept in bench/peer_rows (committed), so PEER_ARGS="--budgets 120 300" then a plain run measures it in parts)
	time $(BIN)/python bench/peer_budgets.py --work $(PEER_WORK) --out BENCHMARKS.md $(PEER_ARGS)

bench-peer-averaging: $(STAMP)  ## after bench-peer (its models in bench/.peer-work): 20-min bpho and CARE predictions averaged over seeds and dihedral transforms, into BENCHMARKS.md (a few minutes)
	$(BIN)/python bench/peer_averaging.py --work $(PEER_WORK) --out BENCHMARKS.md

bench-gpu: $(STAMP)  ## on a CUDA machine: batch sizes, samples/s, peak memory, prediction MPix/s, into BENCHMARKS.md
	bench/gpu.sh

test: $(STAMP)  ## the whole suite: library/notebook sync, pytest, nbdev-test
	scripts/check_sync.sh
	@T=$$(mktemp -d -t bpho-test-XXXXXX); trap 'rm -rf "$$T"' EXIT; set -e; \
	echo "(temporary files of the tests under $$T, removed at the end)"; \
	TMPDIR="$$T" $(BIN)/pytest -q; \
	TMPDIR="$$T" $(BIN)/nbdev-test --skip-file-re '^[1-9][0-9][0-9]_'

test-profiles: $(STAMP)  ## sample source -> dataset -> smoke experiment under this CPU's kernels and the baseline ones, compared (~11 min on 2 cores)
	$(BIN)/python scripts/check_profiles.py

test-slow: $(STAMP)  ## also the notebook cells flagged slow
	@T=$$(mktemp -d -t bpho-test-XXXXXX); trap 'rm -rf "$$T"' EXIT; \
	TMPDIR="$$T" $(BIN)/nbdev-test --flags slow --skip-file-re '^[1-9][0-9][0-9]_'

check-sync: $(STAMP)  ## bpho_lib/ matches nbs/, notebooks clean
	scripts/check_sync.sh

export: $(STAMP)  ## export nbs/ to bpho_lib/ and clean the notebooks
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

lock: $(STAMP)  ## rewrite requirements.lock from .venv
	{ echo "# Exact versions of the whole stack, used as pip constraints by the Makefile (make lock rewrites it)."; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock

clean-demo:  ## remove the demo's data root
	rm -rf $(DEMO_ROOT)

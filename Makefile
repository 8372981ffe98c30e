# ovseg — the README's whole set-up is `make bench` and `make test`; both install first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install test test-slow test-all bench bench-speed lint format clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## Create .venv and install ovseg (editable) with its test and dev extras

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	@touch $(STAMP)

test: $(STAMP) ## Run the fast test suite (installs first if needed)
	$(BIN)/python -m pytest -q

test-slow: $(STAMP) ## Run only the slow tests (DDP, resume, full bench); CI runs them after `make test`
	$(BIN)/python -m pytest -q -m slow

test-all: $(STAMP) ## Run every test, slow ones included
	$(BIN)/python -m pytest -q -m ''

# Real mode of `make bench` when any of these is set, e.g.
#   make bench DATA="voc context coco" SEGCLIP_CKPT=segclip.bin SSEG_CKPT=sseg.ckpt PROTOCOL=groupvit
BENCH_REAL := $(if $(DATA),--data $(DATA)) \
	$(if $(SEGCLIP_CKPT),--segclip-ckpt $(SEGCLIP_CKPT)) \
	$(if $(SSEG_CKPT),--sseg-ckpt $(SSEG_CKPT)) \
	$(if $(PROTOCOL),--protocol $(PROTOCOL)) \
	$(if $(DATA_ROOT),--data-root $(DATA_ROOT))
SPEED_BENCHMARKS := $(sort $(wildcard benchmarks/*_speed.py))

bench: $(STAMP) ## Train and compare SegCLIP, S-Seg and S-Seg+ on synthetic data (DATA=… *_CKPT=…: real mode)
	$(BIN)/python benchmarks/bench.py $(strip $(BENCH_REAL)) $(BENCH_ARGS)

bench-speed: $(STAMP) ## Run every micro-benchmark (benchmarks/*_speed.py) in turn
	@set -e; for script in $(SPEED_BENCHMARKS); do \
		echo "== $$script"; $(BIN)/python $$script; echo; \
	done

lint: $(STAMP) ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Rewrite files in ruff's style
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

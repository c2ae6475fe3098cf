# The two commands a newcomer needs (README.md):
#   make demo   set up .venv and run the main job on the embedded defaults
#   make test   set up .venv, lint, and run the whole test suite
# Both are idempotent: the install step re-runs only when pyproject.toml or constraints.txt change.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= outputs

.PHONY: install demo test lint docs serve-docs bench-speed bench-model-error bench-hooksweep2 bench-csr clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, exactly this spec: it takes the local CPU build (no CUDA wheels).
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,docs,crosscheck,cluster,clients]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/causal-envs dataset generate nav2d/empirical
	$(VENV)/bin/causal-envs dataset info nav2d/empirical
	$(VENV)/bin/causal-envs dataset plot nav2d/empirical --out $(OUT)/nav2d-empirical.png
	CAUSAL_ENVS_OUTPUT_DIR=$(OUT) $(VENV)/bin/causal-envs bench mocoda-nav2d --profile quick

test: install
	$(VENV)/bin/ruff check .
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

serve-docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

bench-speed: install
	$(VENV)/bin/causal-envs bench env-speed

bench-model-error: install
	CAUSAL_ENVS_OUTPUT_DIR=$(OUT) $(VENV)/bin/causal-envs bench mocoda-model-error --profile quick

bench-hooksweep2: install
	CAUSAL_ENVS_OUTPUT_DIR=$(OUT) $(VENV)/bin/causal-envs bench mocoda-hooksweep2 --profile quick

bench-csr: install
	CAUSAL_ENVS_OUTPUT_DIR=$(OUT) $(VENV)/bin/causal-envs bench csr-cartpole --profile quick
	CAUSAL_ENVS_OUTPUT_DIR=$(OUT) $(VENV)/bin/causal-envs bench csr-synthetic --profile quick

clean:
	rm -rf $(VENV) $(OUT) site .pytest_cache .ruff_cache

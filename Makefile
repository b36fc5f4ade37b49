# Set-up commands the README promises. `make test` works on a fresh machine with Python >= 3.11.
VENV ?= .venv
PY := $(VENV)/bin/python
# Which torch to install, and from where. On PyPI (the default index) Linux wheels are the CUDA
# build; for the CPU build (no CUDA packages) pass the PyTorch CPU index:
#   make test TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
TORCH_INSTALL = $(PY) -m pip install -q $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) "$(TORCH_SPEC)"

.PHONY: test lint typecheck install dev check-core demo bench clean notebooks notebook-figures

$(VENV)/.dev-installed: pyproject.toml
	python3 -m venv $(VENV)
	$(TORCH_INSTALL)
	$(PY) -m pip install -q -e '.[dev,train]'
	touch $@

# The demo needs the core toolkit plus torch and transformers (the local backend), nothing more.
$(VENV)/.demo-installed: pyproject.toml
	python3 -m venv $(VENV)
	$(TORCH_INSTALL)
	$(PY) -m pip install -q -e '.[local]'
	touch $@

dev: $(VENV)/.dev-installed

lint: dev
	$(VENV)/bin/ruff check .

# mypy on the installed layout (setup.py maps llm/, records/, ... under caravan.*, which mypy
# cannot follow on the source tree): a throwaway copy under build/typecheck, then `-p caravan`.
# build/lib goes too: setuptools would copy a deleted module's stale copy from it into the install.
# The cache lives outside the copy, so a rerun only checks what changed.
typecheck: dev
	rm -rf build/typecheck build/lib
	$(PY) -m pip install -q --no-deps --target build/typecheck .
	cd build/typecheck && $(abspath $(PY)) -m mypy --config-file ../../pyproject.toml \
		--cache-dir ../mypy-cache --python-executable $(abspath $(PY)) -p caravan

test: lint typecheck
	$(VENV)/bin/pytest -q

# Execute every notebook (tests/notebooks); executed copies + HTML land in build/notebooks/.
notebooks: dev
	$(VENV)/bin/pytest -q tests/notebooks

# Same, and refresh the README's pictures under docs/inspect/ from the notebooks' own figures.
notebook-figures: dev
	CARAVAN_NB_DOCS=docs/inspect $(VENV)/bin/pytest -q tests/notebooks

# The core install (no extras) must stay light: no torch, no CUDA, no trainer stack.
check-core:
	python3 .ci/check_core_install.py

install:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e .

# The main job: persona-driven IF prompts from the bundled example personas. Without an API key
# it runs the embedded local model (Qwen/Qwen2.5-0.5B-Instruct from the hub, or
# CARAVAN_LOCAL_MODEL=PATH); with OPENAI_API_KEY set it uses gpt-4o.
demo: $(VENV)/.demo-installed
	$(VENV)/bin/synth generate --persona example --task if -n 20 --output out/prompts.parquet

# Every benchmark that runs on a CPU machine (train_gpu.py needs a GPU: run it there).
bench: dev
	$(PY) benchmarks/records_io.py
	$(PY) benchmarks/verifiers_grpo_batch.py
	$(PY) benchmarks/verifiers_math.py
	$(PY) benchmarks/code_sandbox.py --problems 40 --grpo-prompts 2
	$(PY) benchmarks/ifeval_speed.py
	$(PY) benchmarks/decontam_throughput.py
	$(PY) benchmarks/decontam_quality.py
	$(PY) benchmarks/decontam_semantic.py
	$(PY) benchmarks/llm_overhead.py
	$(PY) benchmarks/llm_faults.py
	$(PY) benchmarks/llm_resume.py
	$(PY) benchmarks/synth_checks.py
	$(PY) benchmarks/prefs_pipeline.py
	$(PY) benchmarks/llm_local.py
	$(PY) benchmarks/llm_local_batching.py
	$(PY) benchmarks/cli_startup.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info build/typecheck build/mypy-cache

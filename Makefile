# Set-up commands the README promises. `make test` works on a fresh machine with Python >= 3.11.
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build keeps CUDA packages out; override for a GPU box (TORCH_SPEC="torch").
TORCH_SPEC ?= torch==2.13.0

.PHONY: test lint install dev check-core demo bench clean notebooks notebook-figures

$(VENV)/.dev-installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[dev,train]'
	touch $@

dev: $(VENV)/.dev-installed

lint: dev
	$(VENV)/bin/ruff check .

test: lint
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
demo: dev
	$(VENV)/bin/synth generate --persona example --task if -n 20 --output out/prompts.parquet

# Every benchmark that runs on a CPU machine (train_gpu.py needs a GPU: run it there).
bench: dev
	$(PY) benchmarks/records_io.py
	$(PY) benchmarks/verifiers_grpo_batch.py
	$(PY) benchmarks/verifiers_math.py
	$(PY) benchmarks/ifeval_speed.py
	$(PY) benchmarks/decontam_throughput.py
	$(PY) benchmarks/decontam_quality.py
	$(PY) benchmarks/llm_overhead.py
	$(PY) benchmarks/llm_faults.py
	$(PY) benchmarks/llm_resume.py
	$(PY) benchmarks/synth_checks.py
	$(PY) benchmarks/prefs_pipeline.py
	$(PY) benchmarks/llm_local.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

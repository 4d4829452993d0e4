# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser test test-slow lint demo bench clean

install: $(STAMP)

# torch goes first and alone: `torch==2.13.0` takes the local CPU wheel, a looser spec pulls CUDA.
$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,ray]'
	touch $(STAMP)

# The browser tests need a system Chromium: installed here when possible, else a clear instruction.
browser:
	@scripts/ensure_chromium.sh

test: install browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The demo atlas: the shipped demo datasets (data/demo) through the demo weights (weights/demo-tiny.pt) into
# atlas/, the bundled gene sets and TF list, then the API and the page on 127.0.0.1:8000. Re-running skips
# unchanged datasets.
demo: install
	$(BIN)/scprint-graph ingest --config examples/sources.toml
	$(BIN)/scprint-graph store load-genesets --bundled --db atlas
	$(BIN)/scprint-graph store load-priors --bundled --db atlas
	@echo ""
	@echo "Demo atlas in ./atlas. Open http://127.0.0.1:8000/ (page), http://127.0.0.1:8000/graphql (GraphiQL)."
	@echo "Stop the server with Ctrl-C."
	$(BIN)/scprint-graph serve --db atlas --host 127.0.0.1 --port 8000

# Every benchmark at a size that finishes in minutes on 2 cores; docs/benchmarks.md gives the full-size runs
# (100 M-edge store and server, 5,000-gene GRN memory) and their figures.
bench: install
	$(BIN)/python bench/model_throughput.py
	$(BIN)/python bench/bench_batching.py
	$(BIN)/python bench/pretrain_eval.py
	$(BIN)/python bench/ingest.py --threads 1
	$(BIN)/python bench/grn_quality.py --threads 1
	$(BIN)/python bench/store.py --networks 200
	$(BIN)/python bench/server.py --networks 200 --load-seconds 20
	$(BIN)/python bench/bench_page.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

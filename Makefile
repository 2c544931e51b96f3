# newsbot: `make demo` and `make test` work on a fresh machine with no network but the package index.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export ANONYMIZED_TELEMETRY := False

.PHONY: install demo test bench bot clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	# torch is pinned to the CPU build (an unpinned torch pulls several GB of CUDA).
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/newsbot ingest examples/articles
	$(BIN)/newsbot stats

test: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	mkdir -p bench/results
	$(PY) bench/ingest.py --corpus ../shared/data/bbc --json bench/results/ingest.json

bot: $(STAMP)
	$(BIN)/newsbot serve

clean:
	rm -rf $(VENV) data .pytest_cache

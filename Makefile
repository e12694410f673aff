# The two commands a new user needs: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# torch/torchvision are pinned here (not in pyproject) to the builds this machine keeps on disk;
# the pyproject range stays open so a GPU machine's torch fits too.
TORCH   ?= torch==2.14.1 torchvision==0.29.1
# Extras installed with the package: the test tools, and Ray so the --backend ray tests run.
EXTRAS  ?= test,ray

.PHONY: venv demo test test-fast bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/clean-labels demo --out demo-run

test: $(STAMP)
	$(BIN)/python -m pytest tests

# The quick loop while editing: everything but the tests marked slow (the full suite is `make test`).
test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow" -x

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_rank.py --quick
	$(BIN)/python benchmarks/bench_quality.py --cpu
	$(BIN)/python benchmarks/bench_cleaning.py
	$(BIN)/python benchmarks/bench_imbalance.py

clean:
	rm -rf $(VENV) demo-run .pytest_cache

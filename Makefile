# The two commands for a fresh machine (Python 3.11, no GPU, no data of your own):
#   make demo   set up .venv, then colorize the bundled photos and clip into demo-output/
#   make test   set up .venv, then run the test suite
#   make bench  [RUN=runs/default] every benchmark into docs/benchmarks.md
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test lint bench clean

$(VENV): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[train,device,camera,dev]'
	touch $(VENV)

demo: $(VENV)
	$(BIN)/edgecolor demo -o demo-output

test: $(VENV)
	$(BIN)/python -m pytest -q

lint: $(VENV)
	$(BIN)/ruff check edgecolor tests bench

bench: $(VENV)
	$(BIN)/python bench/run_all.py $(if $(RUN),--run $(RUN))

clean:
	rm -rf $(VENV) demo-output .pytest_cache

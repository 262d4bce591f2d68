PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: install demo test test-all clean

install: $(BIN)/rdrf

$(BIN)/rdrf: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade --quiet pip
	$(PIP) install --quiet -c constraints.txt -e '.[train,dev,postgres]'
	touch $(BIN)/rdrf

demo: install
	rm -rf rdrf-demo
	$(BIN)/rdrf demo --out rdrf-demo

test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m "slow or not slow"

clean:
	rm -rf $(VENV) build *.egg-info

# The README's two commands are `make demo` and `make test`; everything else is for developers.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
YEAR ?= 2021
COUNT ?= 40
SAMPLES := output/samples

.PHONY: install install-test demo test bench lint template clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	rm -rf $(SAMPLES)
	$(PY) -m evalbatch sample -o $(SAMPLES) --count $(COUNT) --seed 1 --year $(YEAR)
	$(PY) -m evalbatch run $(SAMPLES) --out output --year $(YEAR) --settle 0 || test $$? -eq 1

test: install-test
	$(PY) -m pytest -q

bench: install-test
	$(PY) benchmarks/bench.py

lint: install-test
	$(PY) -m pip install --quiet ruff
	$(VENV)/bin/ruff check evalbatch tests benchmarks

template: install
	$(PY) -m evalbatch template -o input_templates/绩效自评填报模板.xlsx

clean:
	rm -rf $(VENV) output/samples

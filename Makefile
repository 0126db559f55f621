# The README's two commands are `make demo` and `make test`; everything else is for developers.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
YEAR ?= 2021
COUNT ?= 40
SAMPLES := output/samples

.PHONY: install install-test demo test bench lint template pictures clean

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
	$(PY) -m evalbatch sample -o $(SAMPLES) --count $(COUNT) --seed 1 --year $(YEAR) --layout mixed
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

# README pictures: a demo workbook rendered by LibreOffice (needs soffice, pdftoppm and a
# CJK font such as fonts-noto-cjk; developers only).
pictures: install
	rm -rf output/pictures && mkdir -p output/pictures docs/images
	$(PY) -m evalbatch sample -o output/pictures/in --count $(COUNT) --seed 1 --year $(YEAR) >/dev/null
	$(PY) -m evalbatch run output/pictures/in --out output/pictures/out --year $(YEAR) --settle 0 --quiet --no-cache || test $$? -eq 1
	soffice -env:UserInstallation=file://$(CURDIR)/output/pictures/profile --headless --convert-to pdf --outdir output/pictures output/pictures/out/绩效自评汇总_$(YEAR).xlsx >/dev/null
	pdftoppm -r 200 -f 1 -l 1 -x 0 -y 150 -W 1500 -H 560 -png output/pictures/绩效自评汇总_$(YEAR).pdf output/pictures/a
	pdftoppm -r 130 -f 2 -l 2 -x 0 -y 100 -W 1500 -H 900 -png output/pictures/绩效自评汇总_$(YEAR).pdf output/pictures/b
	cp output/pictures/a-01.png docs/images/汇总排名.png
	cp output/pictures/b-02.png docs/images/统计分析.png

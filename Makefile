# The README's two commands are `make demo` and `make test`; everything else is for developers.
# evalbatch needs Python >= 3.11: the first such python3 on PATH, unless `make PYTHON=...` says which.
NEED_PYTHON := 3.11
IS_NEW_ENOUGH := -c 'import sys; sys.exit(sys.version_info < (3, 11))'
PYTHON ?= $(or $(firstword $(foreach p,python3 python3.13 python3.12 python3.11,$(shell $(p) $(IS_NEW_ENOUGH) 2>/dev/null && echo $(p)))),python3)
VENV := .venv
PY := $(VENV)/bin/python
YEAR ?= 2021
COUNT ?= 40
SAMPLES := output/samples

.PHONY: install install-test demo test bench lint template pictures clean python-check wheelhouse FORCE

# Before anything is installed: a Python too old is named with the version needed.
python-check:
	@$(PYTHON) $(IS_NEW_ENOUGH) 2>/dev/null || { \
	  echo "evalbatch 需要 Python $(NEED_PYTHON) 或更新版本；$(PYTHON) 是 $$($(PYTHON) --version 2>&1 || echo 找不到的程序)。" >&2; \
	  echo "请安装 Python $(NEED_PYTHON) 或更新版本，再用 make PYTHON=python3.11 demo（或 python3.12 等）指定它。" >&2; \
	  exit 1; }

# A .venv that an older (or since removed) Python made is rebuilt, instead of failing again every
# time. Found when the Makefile is read: make has already judged .installed by then.
STALE_VENV := $(shell [ -e $(VENV) ] && ! $(PY) $(IS_NEW_ENOUGH) 2>/dev/null && echo yes)

$(VENV)/.installed: pyproject.toml $(if $(STALE_VENV),FORCE) | python-check
	@$(if $(STALE_VENV),echo "$(VENV) 是用低于 $(NEED_PYTHON) 的 Python 建立的（或已损坏），删除后用 $(PYTHON) 重新建立。" >&2; rm -rf $(VENV))
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

FORCE:

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	rm -rf $(SAMPLES)
	$(PY) -m evalbatch sample -o $(SAMPLES) --count $(COUNT) --seed 1 --year $(YEAR) --layout mixed
	$(PY) -m evalbatch run $(SAMPLES) --out output --year $(YEAR) --settle 0 || test $$? -eq 1
	@echo "命令行程序 evalbatch 在 $(VENV)/bin/ 中：直接用 $(VENV)/bin/evalbatch --help，或先 . $(VENV)/bin/activate 再用 evalbatch（见 README）。"

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
	rm -rf $(VENV) output/samples $(WHEELHOUSE)

# Offline install (README, "离线安装"): every wheel evalbatch needs, for Linux and Windows (64-bit)
# and Python 3.11-3.13, in one folder to carry into the intranet. There:
#   python -m pip install --no-index --find-links wheelhouse evalbatch
# Narrow it with e.g. `make wheelhouse WHEEL_PYTHONS=3.11 WHEEL_PLATFORMS=linux`.
WHEELHOUSE ?= wheelhouse
WHEEL_PYTHONS ?= 3.11 3.12 3.13
WHEEL_PLATFORMS ?= linux win
LINUX_TAGS := --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform linux_x86_64
WIN_TAGS := --platform win_amd64
# pip judges environment markers (platform_system == "Windows") by this machine, not by --platform:
# what only Windows needs is named here (portalocker[win32]'s pywin32).
WIN_ONLY := pywin32
DOWNLOAD = $(PY) -m pip download --quiet --only-binary=:all: --dest $(WHEELHOUSE)

wheelhouse: install
	rm -rf $(WHEELHOUSE) && mkdir -p $(WHEELHOUSE)
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir $(WHEELHOUSE) .
	set -e; for v in $(WHEEL_PYTHONS); do \
	  $(if $(filter linux,$(WHEEL_PLATFORMS)),$(DOWNLOAD) --python-version $$v $(LINUX_TAGS) $(WHEELHOUSE)/evalbatch-*.whl;) \
	  $(if $(filter win,$(WHEEL_PLATFORMS)),$(DOWNLOAD) --python-version $$v $(WIN_TAGS) $(WHEELHOUSE)/evalbatch-*.whl $(WIN_ONLY);) \
	done
	@echo "离线安装包在 $(WHEELHOUSE)/（$$(ls $(WHEELHOUSE) | wc -l) 个文件）：复制到内网后用 python -m pip install --no-index --find-links $(WHEELHOUSE) evalbatch 安装。"

# README pictures: a demo workbook rendered by LibreOffice (needs soffice, pdftoppm and a
# CJK font such as fonts-noto-cjk; developers only).
pictures: install
	rm -rf output/pictures && mkdir -p output/pictures docs/images
	$(PY) -m evalbatch sample -o output/pictures/in --count $(COUNT) --seed 1 --year $(YEAR) >/dev/null
	$(PY) -m evalbatch run output/pictures/in --out output/pictures/out --year $(YEAR) --settle 0 --quiet --no-cache || test $$? -eq 1
	soffice -env:UserInstallation=file://$(CURDIR)/output/pictures/profile --headless --convert-to pdf --outdir output/pictures output/pictures/out/绩效自评汇总_$(YEAR).xlsx >/dev/null
	# 汇总排名 (A3 landscape) from its header row, the left half; 统计分析's first page with its two charts.
	pdftoppm -r 200 -f 1 -l 1 -x 0 -y 90 -W 1500 -H 620 -png output/pictures/绩效自评汇总_$(YEAR).pdf output/pictures/a
	pdftoppm -r 130 -f 2 -l 2 -x 0 -y 60 -W 2120 -H 700 -png output/pictures/绩效自评汇总_$(YEAR).pdf output/pictures/b
	cp output/pictures/a-01.png docs/images/汇总排名.png
	cp output/pictures/b-02.png docs/images/统计分析.png

# Two commands: `make run` and `make test` (README). Everything they need is installed here.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Python >= 3.12: the first of these that runs (pyenv shims exist but may not be active).
PYTHON_BOOT := $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)
PORT ?= 8000
export PORT

.PHONY: run test install browser migrate demo clean-data

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON_BOOT)" || { echo "Python 3.12 or newer is required (python3.12 / python3.13 not found)"; exit 1; }
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed

# Debian's Chromium for the browser tests (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "could not install chromium: browser tests will be skipped"; }

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	DEBUG=$${DEBUG:-true} $(PY) manage.py demo_setup
	DEBUG=$${DEBUG:-true} bash bin/serve

test: install browser
	$(PY) -m pytest -q

clean-data:
	-$(PY) manage.py embedded_db stop
	rm -rf .data

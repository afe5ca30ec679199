# Sekisho: the two set-up commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# AWS CLI v1 pins its own botocore, so it gets a virtualenv of its own (the tests run the
# seed walkthrough with it against the emulator).
AWSCLI_VENV := .venv-awscli
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the test suite drives: a browser, xmlsec1 for pysaml2 and the
# interop checks, PostgreSQL for the second database run, FreeRADIUS for RADIUS MFA,
# nginx and openssl for the TLS front of docs/deploy (tests/deploy), wrk for the HTTP
# benchmark's load client (tests/served/test_bench_http.py), and the SAML
# service providers people run (tests/peers): Shibboleth SP 3 on Apache (mod_shib) and
# SimpleSAMLphp on Apache's mod_php (php-xml: SimpleSAMLphp needs DOM, and Debian's
# simplesamlphp package does not depend on it).
DEBIAN_TEST_PACKAGES := chromium xmlsec1 postgresql freeradius nginx openssl wrk apache2 \
	libapache2-mod-shib simplesamlphp libapache2-mod-php php-xml
DEBIAN_BASE_PACKAGES := python3-venv

.PHONY: demo test venv venv-test awscli debian-test lint typecheck unit bench clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "python3 is required (apt-get install python3 python3-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBIAN_BASE_PACKAGES) && $(PYTHON) -m venv $(VENV); }
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e ".[test]"
	touch $@

$(AWSCLI_VENV)/.installed:
	$(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/pip install -q --upgrade pip
	$(AWSCLI_VENV)/bin/pip install -q 'awscli<2'
	touch $@

venv: $(VENV)/.installed

venv-test: $(VENV)/.installed-test

awscli: $(AWSCLI_VENV)/.installed

debian-test:
	@missing=""; for p in $(DEBIAN_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## make demo: install into .venv and run the walkthrough on the embedded SQLite database.
demo: venv
	$(VENV)/bin/sekisho demo

## make test: install everything the suite needs (Debian packages too) and run it,
## on SQLite and then on a local PostgreSQL.
test: debian-test venv-test awscli
	$(VENV)/bin/ruff check sekisho tests bench
	$(VENV)/bin/ruff format --check sekisho tests bench scripts
	$(VENV)/bin/mypy sekisho
	bash scripts/run-tests.sh

lint: venv-test
	$(VENV)/bin/ruff check sekisho tests bench
	$(VENV)/bin/ruff format --check sekisho tests bench scripts

typecheck: venv-test
	$(VENV)/bin/mypy sekisho

bench: venv-test
	$(PY) bench/bench_sign.py
	$(PY) bench/bench_password.py
	$(PY) bench/bench_policy.py

clean:
	rm -rf $(VENV) $(AWSCLI_VENV) .mypy_cache .ruff_cache .pytest_cache

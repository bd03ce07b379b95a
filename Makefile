# Debian's interpreter, not the first python3 on PATH (see README).
PYTHON := /usr/bin/python3
SHELL := /bin/sh

VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB := dist/uwsgi-emperor_$(VERSION)_amd64.deb
# Everything that goes into the .deb: a change to any of them rebuilds it, nothing else does.
DEB_INPUTS := $(shell find debian src etc -type f ! -path '*/__pycache__/*' ! -name '*.pyc') \
              setup.py requirements.txt README.md

PYTEST := $(PYTHON) -m pytest -p no:cacheprovider

.PHONY: all deb lint test test-unit test-system test-deps bench repo helper-deb clean

all: deb

deb: $(DEB)

$(DEB): $(DEB_INPUTS)
	scripts/build-deb

test-deps:
	scripts/ensure-apt-packages scripts/apt-test-deps.txt

lint: $(DEB) test-deps
	scripts/lint-deb $(DEB)

# Everything: unit tests, checks on the built .deb and the system tests on a clean root.
test: $(DEB) test-deps
	$(PYTEST) tests

# Quick loop while developing: no clean roots.
test-unit: test-deps
	$(PYTEST) -m "not system" tests

test-system: $(DEB) test-deps
	$(PYTEST) -m system tests

# The internal apt mirror: everything in dist/ published with reprepro, signed.
REPO_DIR ?= dist/repo
REPO_KEY ?=
repo: $(DEB)
	REPO_DIR="$(REPO_DIR)" REPO_KEY="$(REPO_KEY)" scripts/publish-repo

# python3-uwsgi-ensite, the helpers alone (stdeb), for hosts on Debian's own uwsgi.
helper-deb:
	scripts/build-helper-deb

bench: $(DEB)
	scripts/bench

clean:
	rm -rf build dist .cache

# Debian's interpreter, not the first python3 on PATH (see README).
PYTHON := /usr/bin/python3
SHELL := /bin/sh

VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB := dist/uwsgi-emperor_$(VERSION)_amd64.deb
# Everything that goes into the .deb: a change to any of them rebuilds it, nothing else does.
DEB_INPUTS := $(shell find debian src etc -type f ! -path '*/__pycache__/*' ! -name '*.pyc') \
              setup.py requirements.txt README.md

PYTEST := $(PYTHON) -m pytest -p no:cacheprovider

.PHONY: all deb lint test test-unit test-system test-deps bench repo helper-deb bump clean

all: deb

deb: $(DEB)

$(DEB): $(DEB_INPUTS)
	scripts/build-deb

test-deps:
	scripts/ensure-apt-packages scripts/apt-test-deps.txt

lint: $(DEB) test-deps
	scripts/lint-deb $(DEB)

HELPER_DEB := dist/python3-uwsgi-ensite_$(shell sed -n "s/^ *version=\"\(.*\)\",/\1/p" setup.py)-1_all.deb

# Everything: unit tests, checks on the built .debs and the system tests on clean roots.
test: $(DEB) $(HELPER_DEB) test-deps
	$(PYTEST) tests

# Quick loop while developing: tests/unit without the .deb and without clean roots. The
# tests that run the packaged uwsgi are marked needs_uwsgi and run in `make test`.
test-unit: test-deps
	$(PYTEST) -m "not needs_uwsgi" tests/unit

test-system: $(DEB) $(HELPER_DEB) test-deps
	$(PYTEST) -m system tests

# The internal apt mirror: everything in dist/ published with reprepro, signed.
REPO_DIR ?= dist/repo
REPO_KEY ?=
repo: $(DEB)
	REPO_DIR="$(REPO_DIR)" REPO_KEY="$(REPO_KEY)" scripts/publish-repo

# python3-uwsgi-ensite, the helpers alone (stdeb), for hosts on Debian's own uwsgi.
helper-deb: $(HELPER_DEB)

$(HELPER_DEB): setup.py stdeb.cfg $(shell find src packaging -type f ! -path '*/__pycache__/*' ! -name '*.pyc') debian/scripts/build-manpages
	scripts/build-helper-deb

# A new Debian revision, so a rebuilt package can be published again: make bump MSG='why'
bump:
	@test -n "$(MSG)" || { echo "make bump: say why: make bump MSG='...'" >&2; exit 1; }
	scripts/ensure-apt-packages scripts/apt-build-tools.txt
	DEBFULLNAME="uwsgi-emperor maintainers" DEBEMAIL="uwsgi-emperor@lists.example.org" \
	  dch --increment --distribution bookworm --force-distribution --urgency medium "$(MSG)"

bench: $(DEB)
	scripts/bench

clean:
	rm -rf build dist .cache

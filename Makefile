# Debian's interpreter, not the first python3 on PATH (see README).
PYTHON := /usr/bin/python3
SHELL := /bin/sh

VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
DEB := dist/uwsgi-emperor_$(VERSION)_amd64.deb
# Everything that goes into the .deb: a change to any of them rebuilds it, nothing else does.
DEB_INPUTS := $(shell find debian src etc -type f ! -path '*/__pycache__/*' ! -name '*.pyc') \
              setup.py requirements.txt README.md

PYTEST := $(PYTHON) -m pytest -p no:cacheprovider
HOST_SUITE := $(shell . /etc/os-release && echo $$VERSION_CODENAME)

.PHONY: all deb lint test test-unit test-system test-deps test-debs bench repo helper-deb bump clean

all: deb

deb: $(DEB)

$(DEB): $(DEB_INPUTS)
	scripts/build-deb

test-deps:
	scripts/ensure-apt-packages scripts/apt-test-deps.txt

lint: $(DEB) test-deps
	scripts/lint-deb $(DEB)

HELPER_DEB := dist/python3-uwsgi-ensite_$(shell sed -n "s/^ *version=\"\(.*\)\",/\1/p" setup.py)-1_all.deb

# The suites the tests run for: SUITE=trixie narrows to one (default: every suite in
# scripts/suites.tsv). pytest reads them from $$UWSGI_EMPEROR_SUITES.
TEST_SUITES := $(or $(SUITE),$(shell awk -F'\t' 'NF && substr($$1, 1, 1) != "#" && $$1 != "suite" { print $$1 }' scripts/suites.tsv))
# Each tested suite's .deb and helper .deb, built first (make deb/helper-deb SUITE=...).
test-debs:
	for s in $(TEST_SUITES); do $(MAKE) deb helper-deb SUITE=$$s || exit 1; done

# Everything: unit tests once, checks on every suite's .debs and the system tests on clean
# roots of every suite (`make test SUITE=trixie`: one suite).
test: test-debs test-deps
	UWSGI_EMPEROR_SUITES="$(TEST_SUITES)" $(PYTEST) tests

# Quick loop while developing: no clean roots.
test-unit: $(DEB) test-deps
	UWSGI_EMPEROR_SUITES="$(TEST_SUITES)" $(PYTEST) -m "not system" tests

test-system: test-debs test-deps
	UWSGI_EMPEROR_SUITES="$(TEST_SUITES)" $(PYTEST) -m system tests

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

# `make bench SUITE=trixie`: that suite's build against its Debian uWSGI (default: the host's).
bench:
	$(MAKE) deb SUITE=$(or $(SUITE),$(HOST_SUITE))
	SUITE=$(or $(SUITE),$(HOST_SUITE)) scripts/bench

clean:
	rm -rf build dist .cache

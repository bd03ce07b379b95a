# Debian's interpreter, not the first python3 on PATH (see README).
PYTHON := /usr/bin/python3
SHELL := /bin/sh

# Every script here runs on Debian's python3, which a minimal Debian (git and make only)
# lacks: install it first (as root), or say in one line what to do.
ifneq ($(shell test -x $(PYTHON) && echo yes),yes)
$(info make: $(PYTHON) is missing; installing python3 with apt-get)
$(shell (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3) >&2)
ifneq ($(shell test -x $(PYTHON) && echo yes),yes)
$(error $(PYTHON) is missing and could not be installed: run `apt-get install python3` as root)
endif
endif

# The one reader of the version, the maintainer and the suites (testbed/projectinfo.py).
INFO := $(PYTHON) -m testbed.projectinfo
# The suite to build and test: the host's own unless SUITE=bookworm|trixie is given.
SUITE ?= $(shell $(INFO) host-suite)
SUITES := $(shell $(INFO) suites)
VERSION := $(shell $(INFO) version)
PKG_VERSION := $(VERSION)$(shell $(INFO) suffix $(SUITE))
DEB := dist/$(SUITE)/uwsgi-emperor_$(PKG_VERSION)_amd64.deb
HELPER_DEB := dist/$(SUITE)/python3-uwsgi-ensite_$(PKG_VERSION)_all.deb
# An organisation's own builds: make deb MAINTAINER='Ops <ops@example.com>' (the .deb, the
# helper package and make bump take it; default: debian/control's Maintainer).
ifdef MAINTAINER
export MAINTAINER
endif
# Everything that goes into the .deb: a change to any of them rebuilds it, nothing else does.
# BUILD_RECIPE is the build root's recipe as data (its packages; the suites and their
# versions); the code that builds (testbed/) is not an input, as sbuild is not one of a
# Debian package: make repro proves the bytes depend on the inputs alone.
# Not debian/tests, debian/watch, debian/upstream: no build reads them.
BUILD_RECIPE := scripts/build-root-packages.txt scripts/suites.tsv
DEB_INPUTS := $(shell find debian src etc -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
                ! -path 'debian/tests/*' ! -path 'debian/upstream/*' ! -path debian/watch) \
              setup.py requirements.txt README.md $(BUILD_RECIPE)

PYTEST := $(PYTHON) -m pytest -p no:cacheprovider

.PHONY: all deb debs lint autopkgtest test test-unit test-system test-deps test-debs bench repo helper-deb repro bump clean

all: deb

# The suite's packages, built in a clean root of that suite, in dist/$(SUITE)/.
deb: $(DEB)

$(DEB): $(DEB_INPUTS)
	scripts/build-deb $(SUITE)

# Every supported suite (scripts/suites.tsv).
debs:
	for s in $(SUITES); do $(MAKE) deb SUITE=$$s || exit 1; done

test-deps:
	scripts/ensure-apt-packages scripts/apt-test-deps.txt

# lintian of the suite itself (in its build root), --fail-on error,warning.
lint: $(DEB)
	scripts/lint-deb $(SUITE) $(DEB) $(subst uwsgi-emperor_,uwsgi-emperor-dbgsym_,$(DEB))

# debian/tests (DEP-8) run by Debian's autopkgtest on the suite's .deb, in a clean root of
# the suite (its null backend; testbed/autopkgtest.py). Output in build/autopkgtest/$(SUITE)/.
autopkgtest: $(DEB)
	scripts/autopkgtest $(SUITE) $(DEB)

# The suites the tests run for: `make test SUITE=trixie` narrows to one (default: every suite
# in scripts/suites.tsv). pytest reads them from $$UWSGI_EMPEROR_SUITES.
TEST_SUITES := $(if $(filter command line environment,$(origin SUITE)),$(SUITE),$(SUITES))
HOST_SUITE := $(shell $(INFO) host-suite)
# Each tested suite's .deb and helper .deb, built first (make deb/helper-deb SUITE=...), and
# the host suite's .deb: the unit tests marked needs_uwsgi run its uwsgi on this host.
test-debs:
	for s in $(TEST_SUITES); do $(MAKE) deb helper-deb SUITE=$$s || exit 1; done
	$(MAKE) deb SUITE=$(HOST_SUITE)

# Everything: unit tests once, checks on every suite's .debs and the system tests on clean
# roots of every suite (`make test SUITE=trixie`: one suite).
test: test-debs test-deps
	UWSGI_EMPEROR_SUITES="$(TEST_SUITES)" $(PYTEST) tests

# Quick loop while developing: tests/unit without the .deb and without clean roots. The
# tests that run the packaged uwsgi are marked needs_uwsgi and run in `make test`.
test-unit: test-deps
	$(PYTEST) -m "not needs_uwsgi" tests/unit

test-system: test-debs test-deps
	UWSGI_EMPEROR_SUITES="$(TEST_SUITES)" $(PYTEST) -m system tests

# The internal apt mirror: every suite's packages (dist/SUITE/) published with reprepro into
# one repository (dists/bookworm, dists/trixie), signed with one key.
REPO_DIR ?= dist/repo
REPO_KEY ?=
repo: debs
	REPO_DIR="$(REPO_DIR)" REPO_KEY="$(REPO_KEY)" scripts/publish-repo

# python3-uwsgi-ensite, the helpers alone (stdeb), for hosts on Debian's own uwsgi.
helper-deb: $(HELPER_DEB)

$(HELPER_DEB): setup.py stdeb.cfg MANIFEST.in debian/changelog debian/control $(BUILD_RECIPE) \
		$(shell find src packaging -type f ! -path '*/__pycache__/*' ! -name '*.pyc') debian/scripts/build-manpages
	scripts/build-helper-deb $(SUITE)

# Two builds of this commit at other paths, times, umasks, time zones and locales must give
# the same bytes (issue 12); diffoscope shows where they differ. SUITE=... for one suite.
REPRO_SUITES := $(if $(filter command line environment,$(origin SUITE)),$(SUITE),$(SUITES))
repro:
	scripts/build-repro $(REPRO_SUITES)

# A new Debian revision, so a rebuilt package can be published again: make bump MSG='why'
bump:
	@test -n "$(MSG)" || { echo "make bump: say why: make bump MSG='...'" >&2; exit 1; }
	scripts/ensure-apt-packages scripts/apt-bump-tools.txt
	DEBFULLNAME="$$($(INFO) maintainer-name)" DEBEMAIL="$$($(INFO) maintainer-email)" \
	  dch --increment --no-auto-nmu --distribution bookworm --force-distribution --urgency medium "$(MSG)"
	@echo "make bump: now $$($(INFO) version); each suite's build adds its suffix:" \
	  $$(for s in $(SUITES); do $(INFO) package-version $$s; done)

# `make bench SUITE=trixie`: that suite's build against its Debian uWSGI (default: the host's).
bench: $(DEB)
	SUITE=$(SUITE) scripts/bench

clean:
	rm -rf build dist .cache

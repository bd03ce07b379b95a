"""The project's development package: what builds, tests and benchmarks uwsgi-emperor.

Nothing in here ships in a .deb. Run from the top of the checkout (`python3 -m
testbed.build_deb`, which scripts/build-deb does; pytest.ini puts the top on the tests'
path), so it imports without any sys.path edit. Nothing in here knows a test.
Modules, one job each:
  projectinfo  the one reader of the version, the maintainer and the suites (stdlib only:
           setup.py imports it; the Makefile and the shell scripts use its CLI)
  suites   the supported suites (scripts/suites.tsv + FACTS) and where each build lands in dist/
  aptsources  the host's Debian mirror, rewritten for any suite (the roots' apt sources)
  shell    the one Machine interface: run()/out()/popen() of shell commands inside
  roots    mmdebstrap roots per suite (cached, named by recipe_hash), Root (an unpacked copy,
           or an overlay on a root directory), Machine (namespaces whose PID 1 is nsinit.py,
           the reaper)
  nspawn   a root booted with its own systemd (systemd-nspawn -b), a Machine too
  buildroot  the build roots (their recipe: scripts/build-root-packages.txt), the tree a
           build starts from, a build command in its namespaces
  build_deb, build_helper_deb, lint_deb  make deb, make helper-deb, make lint
  debtools variants of a built .deb (another version)
  stack    a .deb staged, services allowed to start, download-then-install, the vassal process
           tree, the HTTP load client (files/httpload.py)
  autopkgtest  debian/tests by Debian's autopkgtest in a fresh root (make autopkgtest)
  bench    make bench: the figures, their plots and BENCHMARKS.md
"""

"""The testbed: clean Debian roots of any supported suite, and the package under test in them.

Used by the system tests (tests/system), the benchmark (scripts/bench) and the build roots
of make deb (scripts/buildroot.py); nothing in here knows a test. Modules, one job each:
  suites   the supported suites (scripts/suites.tsv + FACTS) and where each build lands in dist/
  aptsources  the host's Debian mirror, rewritten for any suite (the roots' apt sources)
  shell    the one Machine interface: run()/out()/popen() of shell commands inside
  roots    mmdebstrap roots per suite (cached, named by recipe_hash), Root (an unpacked copy,
           or an overlay on a root directory), Machine (namespaces whose PID 1 is nsinit.py,
           the reaper)
  nspawn   a root booted with its own systemd (systemd-nspawn -b), a Machine too
  debtools variants of a built .deb (another version)
  stack    a .deb staged, services allowed to start, download-then-install, the vassal process
           tree, the HTTP load client (files/httpload.py)
"""

"""The testbed: clean Debian roots of any supported suite, and the package under test in them.

Used by the system tests (tests/system) and the benchmark (scripts/bench); nothing in here
knows a test. Modules, one job each:
  suites   the supported suites (scripts/suites.tsv + FACTS) and where each build lands in dist/
  shell    the one Machine interface: run()/out()/popen() of shell commands inside
  roots    mmdebstrap tarballs per suite (cached), Root (an unpacked copy), Machine (namespaces
           whose PID 1 is nsinit.py, the reaper)
  nspawn   a root booted with its own systemd (systemd-nspawn -b), a Machine too
  debtools variants of a built .deb (another version)
  stack    a .deb staged, services allowed to start, download-then-install, the vassal process
           tree, the HTTP load client (files/httpload.py)
"""

"""Which uwsgi binary the helpers ask ($UWSGI_BIN, the venv's, or Debian's on helper-only hosts),
which uWSGI that makes the host run, and where the Emperor's own run files are."""

from uwsgi_emperor import paths


def test_env_wins(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "UWSGI_BIN", str(tmp_path / "missing-venv-uwsgi"))
    monkeypatch.setattr(paths, "DEBIAN_UWSGI_BIN", str(tmp_path))  # exists
    assert paths.uwsgi_bin({"UWSGI_BIN": "/some/uwsgi"}) == "/some/uwsgi"


def test_venv_binary_when_installed(monkeypatch, tmp_path):
    venv, debian = tmp_path / "venv-uwsgi", tmp_path / "debian-uwsgi"
    venv.touch()
    debian.touch()
    monkeypatch.setattr(paths, "UWSGI_BIN", str(venv))
    monkeypatch.setattr(paths, "DEBIAN_UWSGI_BIN", str(debian))
    assert paths.uwsgi_bin({}) == str(venv)


def test_debians_uwsgi_without_the_venv(monkeypatch, tmp_path):
    debian = tmp_path / "debian-uwsgi"
    debian.touch()
    monkeypatch.setattr(paths, "UWSGI_BIN", str(tmp_path / "no-venv-uwsgi"))
    monkeypatch.setattr(paths, "DEBIAN_UWSGI_BIN", str(debian))
    assert paths.uwsgi_bin({}) == str(debian)


def test_neither_names_the_venv_binary(monkeypatch, tmp_path):
    # The error the helpers then print names the binary uwsgi-emperor would have.
    monkeypatch.setattr(paths, "UWSGI_BIN", str(tmp_path / "no-venv-uwsgi"))
    monkeypatch.setattr(paths, "DEBIAN_UWSGI_BIN", str(tmp_path / "no-debian-uwsgi"))
    assert paths.uwsgi_bin({}) == str(tmp_path / "no-venv-uwsgi")


def test_defaults():
    assert paths.UWSGI_BIN == "/opt/venvs/uwsgi-emperor/bin/uwsgi"
    assert paths.DEBIAN_UWSGI_BIN == "/usr/bin/uwsgi"


def test_flavour_is_debian_only_for_debians_binary():
    assert paths.flavour({"UWSGI_BIN": "/usr/bin/uwsgi"}) is paths.Flavour.DEBIAN
    assert paths.flavour({"UWSGI_BIN": "/opt/venvs/uwsgi-emperor/bin/uwsgi"}) is paths.Flavour.EMPEROR
    assert paths.flavour({"UWSGI_BIN": "/elsewhere/uwsgi"}) is paths.Flavour.EMPEROR


def test_flavour_follows_the_binary_found(monkeypatch, tmp_path):
    debian = tmp_path / "debian-uwsgi"
    debian.touch()
    monkeypatch.setattr(paths, "UWSGI_BIN", str(tmp_path / "no-venv-uwsgi"))
    monkeypatch.setattr(paths, "DEBIAN_UWSGI_BIN", str(debian))
    assert paths.flavour({}) is paths.Flavour.DEBIAN
    (tmp_path / "no-venv-uwsgi").touch()
    assert paths.flavour({}) is paths.Flavour.EMPEROR


def test_the_emperors_run_files():
    assert paths.stats_socket({}) == "/run/uwsgi-emperor/emperor-stats.sock"
    assert paths.emperor_pidfile({}) == "/run/uwsgi-emperor/emperor.pid"
    # Moving the apps' sockets does not move the Emperor's files, and the other way round.
    env = {"UWSGI_RUNDIR": "/tmp/apps", "UWSGI_EMPEROR_RUNDIR": "/tmp/emperor"}
    assert paths.stats_socket(env) == "/tmp/emperor/emperor-stats.sock"
    assert paths.emperor_pidfile(env) == "/tmp/emperor/emperor.pid"
    assert paths.rundir(env) == "/tmp/apps"
    assert paths.stats_socket({"UWSGI_RUNDIR": "/tmp/apps"}) == "/run/uwsgi-emperor/emperor-stats.sock"

"""Which sockets the keeper holds for an app (heldsockets), and how a vassal gets them
(vassalstart): pure parts, on temporary directories and this process's own fds."""

import os
import socket

import pytest

from uwsgi_emperor import heldsockets, keeper, vassalstart

RUNDIR = "/run/uwsgi"


def wants(text, name="app1"):
    held, skipped = heldsockets.wants(text, name, RUNDIR)
    return [w.address for w in held], skipped


def test_the_default_socket_is_held():
    assert wants("[uwsgi]\nmodule = app\n") == (["/run/uwsgi/app1.sock"], [])


def test_an_apps_own_sockets_replace_the_default():
    assert wants("[uwsgi]\nsocket = 127.0.0.1:8002\nsocket = /run/uwsgi/%n-b.sock\n") == (
        ["127.0.0.1:8002", "/run/uwsgi/app1-b.sock"], [])


def test_uwsgi_socket_adds_to_the_default():
    assert wants("[uwsgi]\nuwsgi-socket = :9000\n") == (
        [":9000", "/run/uwsgi/app1.sock"], [])


@pytest.mark.parametrize("value, why", [
    ("/srv/app/app.sock", "/srv/app/app.sock is not in /run/uwsgi"),
    ("localhost:8000", "'localhost:8000' is not a unix path in /run/uwsgi nor A.B.C.D:PORT"),
    ("[::1]:8000", "'[::1]:8000' is not a unix path in /run/uwsgi nor A.B.C.D:PORT"),
    ("0.0.0.0:8000", "'0.0.0.0:8000' is not a unix path in /run/uwsgi nor A.B.C.D:PORT"),
    ("/run/uwsgi/%(x).sock", "'/run/uwsgi/%(x).sock' is built by uWSGI itself"),
    ("fd://3", "'fd://3' is not a unix path in /run/uwsgi nor A.B.C.D:PORT"),
])
def test_what_the_vassal_binds_itself(value, why):
    assert wants(f"[uwsgi]\nsocket = {value}\n") == ([], [why])


def test_owner_mode_and_backlog_follow_the_ini():
    [want], _ = heldsockets.wants(
        "[uwsgi]\nchown-socket = nobody:nogroup\nchmod-socket = 600\nlisten = 512\n",
        "app1", RUNDIR)
    assert (want.owner, want.mode, want.backlog) == ("nobody:nogroup", 0o600, 512)


def test_only_other_sections_do_not_count():
    assert wants("[zerg]\nsocket = 127.0.0.1:1\n[uwsgi]\n") == (["/run/uwsgi/app1.sock"], [])


def test_enabled_wants_reads_apps_enabled(tmp_path):
    (tmp_path / "apps-enabled").mkdir()
    (tmp_path / "apps-enabled/a.ini").write_text("[uwsgi]\n")
    (tmp_path / "apps-enabled/b.ini").write_text("[uwsgi]\nsocket = :8001\n")
    (tmp_path / "apps-enabled/README").write_text("not an app")
    found = heldsockets.enabled_wants(str(tmp_path), RUNDIR)
    assert {a: n for a, (n, _w) in found.items()} == {"/run/uwsgi/a.sock": "a", ":8001": "b"}
    assert heldsockets.app_wants(str(tmp_path), "../a", RUNDIR) == []
    assert heldsockets.app_wants(str(tmp_path), "missing", RUNDIR) == []


def test_fd_names_are_what_systemd_accepts():
    name = heldsockets.fd_name("127.0.0.1:8002")
    assert name.startswith("sock-") and len(name) == 45 and ":" not in name
    assert name != heldsockets.fd_name("127.0.0.1:8003")


def test_address_of_names_sockets_as_uwsgi_does(tmp_path):
    path = str(tmp_path / "x.sock")
    with socket.socket(socket.AF_UNIX) as unix, socket.socket() as tcp, \
            socket.socket() as idle:
        unix.bind(path)
        unix.listen()
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        assert heldsockets.address_of(unix) == path
        assert heldsockets.address_of(tcp) == f"127.0.0.1:{tcp.getsockname()[1]}"
        assert heldsockets.address_of(idle) is None  # not listening: never held


def test_unlink_removes_only_a_socket_in_the_rundir(tmp_path):
    path = tmp_path / "a.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    (tmp_path / "file.sock").write_text("")
    assert not heldsockets.unlink(str(tmp_path / "file.sock"), str(tmp_path))
    assert not heldsockets.unlink(str(path), "/elsewhere")
    assert heldsockets.unlink(str(path), str(tmp_path)) and not path.exists()


def test_the_vassals_config_among_the_emperors_arguments():
    assert vassalstart.config_of(["--include", "x.ini", "--ini", "app1.ini", "--include",
                                  "/etc/uwsgi/vassal-defaults.ini"]) == "app1.ini"
    assert vassalstart.config_of(["--yaml", "app.yml"]) == ""


def test_place_puts_the_sockets_at_3_and_moves_the_emperors_pipe(tmp_path):
    read_end, pipe = os.pipe()
    socks = [socket.socket() for _ in range(2)]
    saved = {fd: os.dup(fd) for fd in (3, 4) if _open(fd)}
    try:
        if pipe not in (3, 4):
            os.dup2(pipe, 3)
            os.close(pipe)
            pipe = 3
        environ = {"UWSGI_EMPEROR_FD": str(pipe)}
        inodes = [os.fstat(s.fileno()).st_ino for s in socks]
        fds = [os.dup(s.fileno()) for s in socks]
        vassalstart.place(fds, environ)
        assert [os.fstat(fd).st_ino for fd in (3, 4)] == inodes
        assert os.get_inheritable(3) and os.get_inheritable(4)
        moved = int(environ["UWSGI_EMPEROR_FD"])
        assert moved >= 5
        os.write(moved, b"x")
        assert os.read(read_end, 1) == b"x"
        os.close(moved)
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for s in socks:
            s.close()
        os.close(read_end)


def _open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def test_inherited_fds_from_systemd_and_from_a_reexec():
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b"}
    assert keeper.inherited_fds(env) == [(3, "a"), (4, "b")] and env == {}
    env = {"LISTEN_PID": "1", "LISTEN_FDS": "2"}
    assert keeper.inherited_fds(env) == []
    assert keeper.inherited_fds({keeper.INHERITED: "7 9"}) == [(7, None), (9, None)]


def test_emperor_opts_from_the_defaults_file(tmp_path):
    defaults = tmp_path / "uwsgi-emperor"
    defaults.write_text('# comment\nEMPEROR_OPTS="--emperor-broodlord 8"\n')
    assert keeper.emperor_opts(str(defaults)) == ["--emperor-broodlord", "8"]
    assert keeper.emperor_opts(str(tmp_path / "none")) == []

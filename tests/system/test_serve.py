"""Points 2 and 3: Flask apps enabled with uwsgi-ensite, served through Debian's nginx.

The article's server block (include uwsgi_params; uwsgi_pass unix:/run/uwsgi/NAME.sock;
location /static/ alias) in front of the Emperor's vassals; each app has its own venv under
/srv/NAME built with the root's /usr/bin/python3.
"""

import re

import webstack

APPS = ("app1", "app2")
SPEC_SECONDS = 5  # the issue: served within 5 s of uwsgi-ensite


def test_app1_served_through_nginx(machine, record):
    webstack.add_app(machine, "app1")
    machine.run("uwsgi-ensite app1")
    _, seconds = webstack.wait_for(lambda: webstack.serves(machine, "app1"), SPEC_SECONDS)
    record("app1 served after ensite (s)", round(seconds, 2))
    assert webstack.get(machine, "app1", "/seq/7") == (200, "app1 7\n")


def test_static_file_served_by_nginx(machine):
    webstack.served(machine, "app1")
    assert webstack.get(machine, "app1", "/static/hello.txt") == (200, "static file of app1\n")
    # nginx answered it: the vassal's log has no such request.
    assert "/static/hello.txt" not in machine.out("cat /var/log/uwsgi/app1.log")


def test_vassal_runs_as_www_data(machine):
    webstack.served(machine, "app1")
    procs = webstack.vassal_processes(machine, "app1")
    master = webstack.vassal_master(machine, "app1")
    workers = [pid for pid, (ppid, _) in procs.items() if ppid == master]
    assert len(workers) == 2  # processes = 2 from the vassal defaults
    assert {user for _, user in procs.values()} == {"www-data"}
    # The vassal master's parent is the Emperor, running as root.
    emperor = procs[master][0]
    assert machine.out(f"ps -o user= -p {emperor}") == "root"


def test_socket_not_world_accessible(machine):
    webstack.served(machine, "app1")
    assert machine.out("stat -c '%U:%G %a %F' /run/uwsgi/app1.sock") == "root:www-data 660 socket"
    connect = ("setpriv --reuid={0} --regid={1} --clear-groups /usr/bin/python3 -c "
               "\"import socket; socket.socket(socket.AF_UNIX).connect('/run/uwsgi/app1.sock')\"")
    # www-data (nginx's workers) can connect; anyone else (here: nobody) cannot.
    assert machine.run(connect.format("www-data", "www-data"), check=False).returncode == 0
    proc = machine.run(connect.format("nobody", "nogroup"), check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == "PermissionError: [Errno 13] Permission denied"


# epoll_ctl() always adds EPOLLERR and EPOLLHUP to what is asked for.
EPOLLIN, EPOLLERR, EPOLLHUP, EPOLLEXCLUSIVE = 0x1, 0x8, 0x10, 1 << 28


def test_a_new_connection_wakes_one_idle_worker(machine):
    """debian/uwsgi/patches/wake-one-worker.patch: each worker waits for app1's listening
    socket in its epoll queue with EPOLLEXCLUSIVE, so the kernel wakes one idle worker a
    connection. Read from the kernel's own record of each queue (/proc/PID/fdinfo)."""
    webstack.served(machine, "app1")
    # The listening socket's inode: the socket bound to the path that accepts connections.
    inode = machine.out("awk '$8 == \"/run/uwsgi/app1.sock\" && $4 == \"00010000\" "
                        "{print $7}' /proc/net/unix")
    assert inode.isdigit(), inode
    master = webstack.vassal_master(machine, "app1")
    workers = webstack.workers(webstack.vassal_processes(machine, "app1"), master)
    assert len(workers) == 2
    for pid in workers:
        queues = machine.out(
            f"for f in /proc/{pid}/fd/*; do [ \"$(readlink $f)\" = 'anon_inode:[eventpoll]' ]"
            f" && cat /proc/{pid}/fdinfo/${{f##*/}}; done; true")
        watches = [int(events, 16) for events, ino in
                   re.findall(r"^tfd:\s*\d+ events:\s*([0-9a-f]+) .* ino:([0-9a-f]+)", queues, re.M)
                   if int(ino, 16) == int(inode)]
        assert watches == [EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLEXCLUSIVE], (pid, queues)


def test_two_apps_each_on_its_own_socket_and_log(machine):
    webstack.served(machine, "app1")
    webstack.add_app(machine, "app2")
    machine.run("uwsgi-ensite app2")
    webstack.wait_for(lambda: webstack.serves(machine, "app2"), SPEC_SECONDS)
    assert webstack.get(machine, "app1", "/") == (200, "Hello from app1\n")
    assert webstack.get(machine, "app1", "/seq/7") == (200, "app1 7\n")
    assert webstack.get(machine, "app2", "/seq/3") == (200, "app2 3\n")
    # The article's tree.
    assert machine.out("ls /run/uwsgi").split() == [
        "app1.fifo", "app1.sock", "app1.stats", "app2.fifo", "app2.sock", "app2.stats"]
    assert machine.out("ls /run/uwsgi-emperor").split() == [
        "emperor-stats.sock", "emperor.pid", "keeper.pid", "keeper.sock"]
    assert machine.out("ls /var/log/uwsgi").split() == ["app1.log", "app2.log", "emperor.log"]
    assert machine.out("ls /etc/uwsgi/apps-enabled").split() == ["app1.ini", "app2.ini"]
    assert machine.out("readlink /etc/uwsgi/apps-enabled/app2.ini") == "../apps-available/app2.ini"
    # Each request went to its own app's log only.
    app1_log = machine.out("cat /var/log/uwsgi/app1.log")
    app2_log = machine.out("cat /var/log/uwsgi/app2.log")
    assert "GET /seq/3 " in app2_log and "GET /seq/3 " not in app1_log
    assert "GET /seq/7 " in app1_log and "GET /seq/7 " not in app2_log
    # The vassal opens its log as root before dropping to www-data (uWSGI creates logto
    # files 0640: not world-readable) and hands the open file to its user (logfile-chown):
    # the app's from the first line, so it can reopen it after a rotation.
    assert machine.out("stat -c '%U:%G %a' /var/log/uwsgi/app2.log") == "www-data:www-data 640"
    masters = {webstack.vassal_master(machine, "app1"), webstack.vassal_master(machine, "app2")}
    assert None not in masters and len(masters) == 2

"""Ask an app for / over its uwsgi-protocol unix socket, from inside a test root.

The sockets live in the root's /run, a tmpfs private to its mount namespace, so the request
is made by the root's own python3 (the root tarball has it).
"""

import json

CLIENT = r"""
import json, socket, struct, sys, time

path, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
env = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "QUERY_STRING": "", "SERVER_NAME": "test",
       "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "test"}
body = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode()
                for k, v in env.items())
while True:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(path)
        s.sendall(struct.pack("<BHB", 0, len(body), 0) + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        if out:
            print(json.dumps(out.decode()))  # as JSON: text mode would eat the \r
            break
        problem = "empty answer"
    except OSError as err:
        problem = str(err)
    if time.monotonic() > deadline:
        sys.exit(f"no answer on {path}: {problem}")
    time.sleep(0.2)
"""


def plain_app(body):
    """The source of a one-file WSGI app (no venv, any suite's python3) answering BODY."""
    return ("def application(environ, start_response):\n"
            "    start_response(\"200 OK\", [(\"Content-Type\", \"text/plain\")])\n"
            f"    return [{body.encode()!r}]\n")


def get(machine, socket_path, wait=30):
    """The raw HTTP response of the app behind SOCKET_PATH, retrying for up to WAIT seconds
    while it starts (a bound on waiting, not a timing assertion)."""
    proc = machine.run(f"python3 - {socket_path} {wait}", input=CLIENT, check=False,
                       timeout=wait + 30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def body(response):
    """The body of a raw HTTP response."""
    return response.split("\r\n\r\n", 1)[1]

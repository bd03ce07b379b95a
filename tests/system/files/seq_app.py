"""The system tests' stdlib WSGI app (no venv, no download): "Hello from APP" for /,
"APP N" for /seq/N, APP the first label of the Host header."""


def application(environ, start_response):
    app = environ.get("HTTP_HOST", "").split(".")[0]
    number = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ.get("PATH_INFO") == "/":
        return [f"Hello from {app}\n".encode()]
    return [f"{app} {number}\n".encode()]

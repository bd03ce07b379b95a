"""A slow WSGI app for the broodlord test: 50 ms a request, answers "APP N" for /seq/N
(APP: the Host header without ".test"), the body the load client checks."""

import time


def application(environ, start_response):
    time.sleep(0.05)
    app = environ.get("HTTP_HOST", "").split(".")[0]
    number = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{app} {number}\n".encode()]

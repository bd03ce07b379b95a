"""The benchmark's WSGI apps, served unchanged by every system (plain WSGI, no framework).

hello: the smallest useful answer. slow: 50 ms of waiting per request (a database call).
"""

import time

BODY = b"Hello World\n"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def hello(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


def slow(environ, start_response):
    time.sleep(0.05)
    start_response("200 OK", HEADERS)
    return [BODY]

"""A WSGI app for the multi-process worker tests (--workers, signals,
timeouts, recycling).  Plain PEP 3333; every route passes
wsgiref.validate.validator.

Routes (PATH_INFO; numbers come from the query string):

    /            200 "ok"
    /pid         200 the worker's os.getpid() as decimal text
    /version     200 VERSION (tests copy this file, edit VERSION, send HUP)
    /sleep?s=S   200 "slept" after time.sleep(S) (default 1).  The thread
                 is blocked in C, so an async exception (--request-timeout)
                 only lands when the sleep returns
    /spin?s=S    200 "spun" after a pure-Python busy loop of S seconds
                 (default 1): --request-timeout interrupts it
    /exit        os._exit(1): the worker dies mid-request, no response
    /big?kb=N    200 N KiB of b"x" (default 64), application/octet-stream
    bad number   400 "bad query"
    other path   404 "not found"
"""

import os
import time
from urllib.parse import parse_qs

VERSION = "1"

TEXT = "text/plain"


def _respond(start_response, status, body, content_type=TEXT):
    start_response(status, [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
    ])
    return [body]


def _number(environ, name, default):
    """The float query parameter `name`, default when absent; ValueError
    when it is not a finite non-negative number."""
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    if not values:
        return default
    value = float(values[0])
    if not (0 <= value < float("inf")):
        raise ValueError(name)
    return value


def _spin(seconds):
    """Busy-loop in Python bytecode (so async exceptions are delivered)."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
    return n


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    try:
        if path == "/":
            return _respond(start_response, "200 OK", b"ok")
        if path == "/pid":
            return _respond(start_response, "200 OK", str(os.getpid()).encode())
        if path == "/version":
            return _respond(start_response, "200 OK", VERSION.encode())
        if path == "/sleep":
            time.sleep(_number(environ, "s", 1.0))
            return _respond(start_response, "200 OK", b"slept")
        if path == "/spin":
            _spin(_number(environ, "s", 1.0))
            return _respond(start_response, "200 OK", b"spun")
        if path == "/exit":
            os._exit(1)
        if path == "/big":
            kb = int(_number(environ, "kb", 64))
            return _respond(start_response, "200 OK", b"x" * (kb * 1024),
                            "application/octet-stream")
    except ValueError:
        return _respond(start_response, "400 Bad Request", b"bad query")
    return _respond(start_response, "404 Not Found", b"not found")

"""A WSGI app for the multi-process worker tests (--workers, signals,
timeouts, recycling).  Plain PEP 3333; every route passes
wsgiref.validate.validator.

Routes (PATH_INFO; numbers come from the query string):

    /            200 "ok"
    /pid         200 the worker's os.getpid() as decimal text
    /version     200 VERSION (tests copy this file, edit VERSION, send HUP)
    /sleep?s=S   200 "slept" after time.sleep(S) (default 1).  The thread
                 is blocked in C, so an async exception (--request-timeout)
                 only lands when the sleep returns.  /sleep/ANYTHING
                 is the same (a path for tests of what the logs show)
    /spin?s=S    200 "spun" after a pure-Python busy loop of S seconds
                 (default 1): --request-timeout interrupts it
    /spin?s=S&io=I  the same, with a time.sleep(I) (GIL released, as
                 around a database query) in the middle of the loop
    /exit        os._exit(1): the worker dies mid-request, no response
    /big?kb=N    200 N KiB of b"x" (default 64), application/octet-stream
    /thread?s=S  200 "PID TID": the process id and the OS thread id
                 (threading.get_native_id) of a daemon thread the app
                 starts, which lives S seconds (default 5); the
                 scheduling-policy test reads it
    bad number   400 "bad query"
    other path   404 "not found"
"""

import os
import threading
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


def _start_thread(seconds):
    """Start a daemon thread that sleeps `seconds`; return its native id."""
    started = threading.Event()
    ident = []

    def run():
        ident.append(threading.get_native_id())
        started.set()
        time.sleep(seconds)

    threading.Thread(target=run, daemon=True).start()
    started.wait()
    return ident[0]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    try:
        if path == "/":
            return _respond(start_response, "200 OK", b"ok")
        if path == "/pid":
            return _respond(start_response, "200 OK", str(os.getpid()).encode())
        if path == "/version":
            return _respond(start_response, "200 OK", VERSION.encode())
        if path == "/sleep" or path.startswith("/sleep/"):
            time.sleep(_number(environ, "s", 1.0))
            return _respond(start_response, "200 OK", b"slept")
        if path == "/spin":
            seconds, io = _number(environ, "s", 1.0), _number(environ, "io", 0)
            if io:
                _spin(seconds / 2)
                time.sleep(io)
                seconds /= 2
            _spin(seconds)
            return _respond(start_response, "200 OK", b"spun")
        if path == "/thread":
            tid = _start_thread(_number(environ, "s", 5.0))
            return _respond(start_response, "200 OK", f"{os.getpid()} {tid}".encode())
        if path == "/exit":
            os._exit(1)
        if path == "/big":
            kb = int(_number(environ, "kb", 64))
            return _respond(start_response, "200 OK", b"x" * (kb * 1024),
                            "application/octet-stream")
    except ValueError:
        return _respond(start_response, "400 Bad Request", b"bad query")
    return _respond(start_response, "404 Not Found", b"not found")


# A slow import, for the tests of signals that arrive while the app loads.
time.sleep(float(os.environ.get("WORKERS_APP_IMPORT_DELAY", "0")))

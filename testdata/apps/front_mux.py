"""One app for the network-front tests (cmd/gowsgi/e2e_front_test.go).

It records every call, so a test can tell that a request the front refused
(a limit, a bad PROXY header) never reached the app, and routes by path:

GET /calls          200 JSON array of the PATH_INFOs called so far (in
                    order; /calls itself is not recorded)
/upload             reads the whole body (CONTENT_LENGTH bytes, else until
                    b"" when wsgi.input_terminated) and answers 200 JSON
                    {"body_len", "body_sha256", "SERVER_PROTOCOL",
                    "wsgi.url_scheme", "CONTENT_LENGTH"}; the body is not
                    echoed, so a 10 MB upload gives a short answer
/stream...          streaming.py with PATH_INFO minus "/stream" ("/" if empty)
/err/...            errors.py with PATH_INFO minus "/err"
anything else       environ_dump.py (JSON of the environ and the body)

The call list lives in one process: run it with one worker.
"""

import hashlib
import json
import threading

import environ_dump
import errors
import streaming

_calls = []
_lock = threading.Lock()


def _json(start_response, obj):
    data = json.dumps(obj, sort_keys=True).encode("utf-8")
    start_response("200 OK", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
    ])
    return [data]


def _upload(environ, start_response):
    stream = environ["wsgi.input"]
    digest = hashlib.sha256()
    total = 0
    length = environ.get("CONTENT_LENGTH", "")
    remaining = int(length) if length else None
    while remaining is None or remaining > 0:
        want = 65536 if remaining is None else min(remaining, 65536)
        if remaining is None and not environ.get("wsgi.input_terminated"):
            break
        data = stream.read(want)
        if not data:
            break
        digest.update(data)
        total += len(data)
        if remaining is not None:
            remaining -= len(data)
    return _json(start_response, {
        "body_len": total,
        "body_sha256": digest.hexdigest(),
        "SERVER_PROTOCOL": environ.get("SERVER_PROTOCOL"),
        "wsgi.url_scheme": environ.get("wsgi.url_scheme"),
        "CONTENT_LENGTH": length,
    })


def _sub(environ, prefix):
    env = dict(environ)
    env["PATH_INFO"] = environ.get("PATH_INFO", "")[len(prefix):] or "/"
    return env


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/calls":
        with _lock:
            calls = list(_calls)
        return _json(start_response, calls)
    with _lock:
        _calls.append(path)
    if path == "/upload":
        return _upload(environ, start_response)
    if path == "/stream" or path.startswith("/stream/"):
        return streaming.application(_sub(environ, "/stream"), start_response)
    if path.startswith("/err/"):
        return errors.application(_sub(environ, "/err"), start_response)
    return environ_dump.application(environ, start_response)

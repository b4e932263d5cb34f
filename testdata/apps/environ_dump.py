"""Echo the WSGI environ as JSON.

Every environ key whose value is a str, int, bool or tuple appears as-is
(a tuple becomes a JSON list); any other value appears as the name of its
type (e.g. "wsgi.input": "InputWrapper").  Three extra keys describe the
request body:

    "body"        the body read from wsgi.input, decoded latin-1
    "body_len"    its length in bytes
    "body_sha256" its SHA-256, hex

The body is read with wsgi.input.read(size) calls, the only form that
wsgiref.validate allows: up to CONTENT_LENGTH bytes when CONTENT_LENGTH is
set, else until b"" when the server sets wsgi.input_terminated (chunked
bodies), else not at all (a server without input_terminated gives no EOF).
"""

import hashlib
import json

CHUNK = 64 * 1024


def _jsonable(value):
    if isinstance(value, (str, int, bool)):  # bool is an int; kept as-is
        return value
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return type(value).__name__


def _read_body(environ):
    stream = environ["wsgi.input"]
    parts = []
    length = environ.get("CONTENT_LENGTH", "")
    if length:
        remaining = int(length)
        while remaining > 0:
            data = stream.read(min(remaining, CHUNK))
            if not data:
                break
            parts.append(data)
            remaining -= len(data)
    elif environ.get("wsgi.input_terminated"):
        while True:
            data = stream.read(CHUNK)
            if not data:
                break
            parts.append(data)
    return b"".join(parts)


def application(environ, start_response):
    body = _read_body(environ)
    out = {key: _jsonable(value) for key, value in environ.items()}
    out["body"] = body.decode("latin-1")
    out["body_len"] = len(body)
    out["body_sha256"] = hashlib.sha256(body).hexdigest()
    data = json.dumps(out, sort_keys=True).encode("utf-8")
    start_response("200 OK", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
    ])
    return [data]

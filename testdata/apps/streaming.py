"""A generator app that streams its body.

GET /?chunks=N&delay=S&size=B
    N chunks (default 5) of B bytes each (default 10), sleeping S seconds
    (default 0.0) between chunks; the first chunk is yielded at once.
    Chunk i (from 0) is B copies of the letter chr(ord("a") + i % 26), so
    the default body is b"aaaaaaaaaabbbbbbbbbbcccccccccc...eeeeeeeeee".
    No Content-Length: the server must stream it (chunked on HTTP/1.1).

GET /wait-first
    yields b"first\\n", sleeps 2 s, yields b"last\\n": a client must see
    the first chunk about 2 s before the body ends.

GET /burst-then-wait
    yields 20 chunks of 100 bytes back to back (b"0" * 100 ... b"9" * 100,
    twice), sleeps 2 s, yields b"last\n": chunks that come quickly may
    leave together, but all 2,000 bytes must reach the client long before
    the pause ends.

GET /slow-close
    one chunk, b"whole body\n", that is the whole declared Content-Length,
    from an iterable whose close() sleeps 2 s: the body must reach the
    client long before close() returns.
"""

import time
from urllib.parse import parse_qs


def _arg(query, name, cast, default):
    values = query.get(name)
    if not values:
        return default
    return cast(values[0])


def _chunks(n, size, delay):
    for i in range(n):
        if i and delay:
            time.sleep(delay)
        yield bytes([ord("a") + i % 26]) * size


def _wait_first():
    yield b"first\n"
    time.sleep(2)
    yield b"last\n"


def _burst_then_wait():
    for i in range(20):
        yield str(i % 10).encode() * 100
    time.sleep(2)
    yield b"last\n"


class _SlowClose:
    """An iterable of one chunk whose close() takes 2 s."""

    def __init__(self, body):
        self.body = body

    def __iter__(self):
        yield self.body

    def close(self):
        time.sleep(2)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "") or "/"
    headers = [("Content-Type", "text/plain"), ("Cache-Control", "no-store")]
    if path == "/wait-first":
        start_response("200 OK", headers)
        return _wait_first()
    if path == "/burst-then-wait":
        start_response("200 OK", headers)
        return _burst_then_wait()
    if path == "/slow-close":
        body = b"whole body\n"
        start_response("200 OK", headers + [("Content-Length", str(len(body)))])
        return _SlowClose(body)
    if path != "/":
        body = b"not found"
        start_response("404 Not Found", [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(body))),
        ])
        return [body]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        n = _arg(query, "chunks", int, 5)
        delay = _arg(query, "delay", float, 0.0)
        size = _arg(query, "size", int, 10)
        if n < 0 or size < 0 or delay < 0:
            raise ValueError("negative")
    except ValueError:
        body = b"bad query"
        start_response("400 Bad Request", [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(body))),
        ])
        return [body]
    start_response("200 OK", headers)
    return _chunks(n, size, delay)

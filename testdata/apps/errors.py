"""Misbehaving (and some well-behaved) WSGI responses, one route per case.

The route is chosen by PATH_INFO; see testdata/README.md for the table of
routes and what a correct server does with each.

Close tracking: the response iterable of every route except /closed is
wrapped in an object whose close() records PATH_INFO in a module-level
list (the file-wrapper routes record through the wrapped file's close()
instead, so that the server still sees its own wsgi.file_wrapper object).
GET /closed returns that list as JSON, GET /closed?reset=1 empties it and
returns [].  The list lives in one process: use one worker.

Routes marked "bad" below break PEP 3333 on purpose.  The others pass
wsgiref.validate.validator (except /input?mode=read: the validator only
allows read(size)).
"""

import hashlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from urllib.parse import parse_qs

_closed = []
_closed_lock = threading.Lock()

TEXT = [("Content-Type", "text/plain")]


def _record_close(path):
    with _closed_lock:
        _closed.append(path)


class Tracked:
    """A response iterable that records its path when close() is called."""

    def __init__(self, path, iterable):
        self._path = path
        self._iterable = iterable

    def __iter__(self):
        return iter(self._iterable)

    def close(self):
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            _record_close(self._path)


class _TrackedFile(io.BufferedReader):
    """A real file (it has a fileno(), so sendfile works) whose first
    close() records the path."""

    def __init__(self, path_info, filename):
        self._track_path = path_info
        super().__init__(io.FileIO(filename, "rb"))

    def close(self):
        if not self.closed and getattr(self, "_track_path", None):
            _record_close(self._track_path)
        super().close()


class _TrackedBytesIO(io.BytesIO):
    """An in-memory file (fileno() raises) whose first close() records."""

    def __init__(self, path_info, data):
        self._track_path = path_info
        super().__init__(data)

    def close(self):
        if not self.closed and getattr(self, "_track_path", None):
            _record_close(self._track_path)
        super().close()


def _query(environ):
    return parse_qs(environ.get("QUERY_STRING", ""))


def _qarg(environ, name, cast, default):
    values = _query(environ).get(name)
    if not values:
        return default
    return cast(values[0])


def _simple(start_response, path, status, body, content_type="text/plain"):
    start_response(status, [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
    ])
    return Tracked(path, [body])


# --- file-wrapper helpers ---------------------------------------------------

_PATTERN = bytes(range(256)) * 4096  # 1 MiB of 00 01 02 ... ff 00 01 ...
_file_lock = threading.Lock()


def pattern_bytes(size):
    """The content /file-wrapper?size=N serves: bytes(range(256)) repeated,
    cut to `size` bytes.  Tests can import this to check bodies."""
    full, rest = divmod(size, len(_PATTERN))
    return _PATTERN * full + _PATTERN[:rest]


def _pattern_file(size):
    """Path of a temp file holding pattern_bytes(size); made once per size."""
    name = os.path.join(tempfile.gettempdir(), "gowsgi-testdata-fw-%d.bin" % size)
    with _file_lock:
        try:
            if os.path.getsize(name) == size:
                return name
        except OSError:
            pass
        fd, tmp = tempfile.mkstemp(prefix="gowsgi-testdata-fw-", dir=os.path.dirname(name))
        try:
            with os.fdopen(fd, "wb") as f:
                remaining = size
                while remaining > 0:
                    block = _PATTERN[:remaining]
                    f.write(block)
                    remaining -= len(block)
            os.replace(tmp, name)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    return name


def _read_blocks(filelike, block_size):
    try:
        while True:
            data = filelike.read(block_size)
            if not data:
                return
            yield data
    finally:
        filelike.close()


def _file_response(environ, filelike):
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(filelike, 64 * 1024)
    return _read_blocks(filelike, 64 * 1024)


# --- routes -----------------------------------------------------------------

def r_ok(environ, start_response, path):
    return _simple(start_response, path, "200 OK", b"ok")


def r_raise_before_start(environ, start_response, path):
    raise RuntimeError("raised before start_response")


def r_non_iterable(environ, start_response, path):
    start_response("200 OK", list(TEXT))
    return 42


def r_yield_str(environ, start_response, path):
    start_response("200 OK", list(TEXT))
    return Tracked(path, ["text is not bytes"])


def r_bad_status(environ, start_response, path):
    start_response("abc", [])
    return Tracked(path, [b"bad status"])


def r_header_crlf(environ, start_response, path):
    start_response("200 OK", TEXT + [("X-Bad", "x\r\nX-Injected: 1")])
    return Tracked(path, [b"header crlf"])


def r_header_non_latin1(environ, start_response, path):
    start_response("200 OK", TEXT + [("X-Bad", "\u20ac")])
    return Tracked(path, [b"header non-latin1"])


def r_start_twice(environ, start_response, path):
    start_response("200 OK", list(TEXT))
    start_response("200 OK", list(TEXT))
    return Tracked(path, [b"x"])


def r_raise_mid_iteration(environ, start_response, path):
    def gen():
        yield b"part1"
        raise ValueError("raised during iteration")
    start_response("200 OK", list(TEXT))
    return Tracked(path, gen())


def r_exc_info(environ, start_response, path):
    # Content-Type on the first call too, or wsgiref.validate rejects it.
    start_response("200 OK", TEXT + [("X-First", "1")])
    try:
        raise RuntimeError("replace the response before the headers are sent")
    except RuntimeError:
        start_response("500 Internal Server Error",
                       [("Content-Type", "text/plain"), ("X-Replaced", "1")],
                       sys.exc_info())
    return Tracked(path, [b"replaced"])


def r_exc_info_after_body(environ, start_response, path):
    def gen():
        yield b"body"
        try:
            raise RuntimeError("error after the headers were sent")
        except RuntimeError:
            # PEP 3333: headers already sent, so start_response must
            # re-raise this exception; the next line is never reached on
            # a correct server.
            start_response("500 Internal Server Error", list(TEXT), sys.exc_info())
        yield b"should-not-appear"
    start_response("200 OK", list(TEXT))
    return Tracked(path, gen())


def r_header_changed_after_start(environ, start_response, path):
    # The list is the app's own: changing it after start_response must be
    # caught when the headers go out, not crash the server.
    headers = list(TEXT)
    start_response("200 OK", headers)
    headers.append(["X-Late", "a list, not a tuple"])
    return Tracked(path, [b"changed headers"])


def r_exc_info_not_handled(environ, start_response, path):
    def gen():
        yield b"body"
        # Outside an except block sys.exc_info() is (None, None, None):
        # nothing to re-raise, so start_response must raise TypeError.
        start_response("500 Internal Server Error", list(TEXT), sys.exc_info())
        yield b"should-not-appear"
    start_response("200 OK", list(TEXT))
    return Tracked(path, gen())


def r_write_from_thread(environ, start_response, path):
    """Calls write() from a thread of the app's own: it must raise, not
    write into a response another thread owns."""
    write = start_response("200 OK", list(TEXT))
    caught = []

    def other():
        try:
            write(b"from another thread ")
        except RuntimeError as e:
            caught.append(str(e).encode())

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    return Tracked(path, caught or [b"no error"])


_kept_inputs = []


def r_input_keep(environ, start_response, path):
    """Keeps this request's wsgi.input (a bug in an app) for /input-stale."""
    _kept_inputs.append(environ["wsgi.input"])
    return _simple(start_response, path, "200 OK", b"kept")


def r_input_stale(environ, start_response, path):
    """Reads the wsgi.input a finished request left: it must fail, not read
    this request's body."""
    try:
        data = _kept_inputs.pop().read()
    except RuntimeError as e:
        data = str(e).encode()
    environ["wsgi.input"].read()
    return _simple(start_response, path, "200 OK", data)


_kept_writes = []


def r_write_keep(environ, start_response, path):
    """Keeps this request's write() (a bug in an app) for /write-stale."""
    _kept_writes.append(start_response("200 OK", list(TEXT)))
    return Tracked(path, [b"kept"])


def r_write_stale(environ, start_response, path):
    """Calls the write() a finished request left: it must raise, not write
    into this request's response."""
    start_response("200 OK", list(TEXT))
    try:
        _kept_writes.pop()(b"LEAKED ")
        message = b"the kept write() wrote"
    except RuntimeError as e:
        message = str(e).encode()
    return Tracked(path, [message])


def r_write(environ, start_response, path):
    write = start_response("200 OK", list(TEXT))
    write(b"written-")
    return Tracked(path, [b"returned"])


def r_file_wrapper(environ, start_response, path):
    size = _qarg(environ, "size", int, 1024 * 1024)
    if size < 0:
        return _simple(start_response, path, "400 Bad Request", b"bad size")
    filelike = _TrackedFile(path, _pattern_file(size))
    start_response("200 OK", [
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(size)),
    ])
    return _file_response(environ, filelike)


class _NoFilenoBytesIO(_TrackedBytesIO):
    """A hand-written file-like whose fileno() raises NotImplementedError."""

    def fileno(self):
        raise NotImplementedError("no descriptor here")


def r_file_wrapper_nofd(environ, start_response, path):
    data = b"in-memory"
    if _qarg(environ, "fileno", str, "") == "notimplemented":
        filelike = _NoFilenoBytesIO(path, data)
    else:
        filelike = _TrackedBytesIO(path, data)
    start_response("200 OK", [
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(len(data))),
    ])
    return _file_response(environ, filelike)


def r_big_body(environ, start_response, path):
    # A list body (the server's one-result path), in two parts, of
    # pattern_bytes(size).
    size = _qarg(environ, "size", int, 1024 * 1024)
    if size < 0:
        return _simple(start_response, path, "400 Bad Request", b"bad size")
    data = pattern_bytes(size)
    start_response("200 OK", [
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(size)),
    ])
    half = size // 2
    return [data[:half], data[half:]]


def r_sleep(environ, start_response, path):
    time.sleep(_qarg(environ, "s", float, 1.0))
    return _simple(start_response, path, "200 OK", b"slept")


def r_read_then_sleep(environ, start_response, path):
    """Reads the whole body, then works for s seconds before answering."""
    n = len(environ["wsgi.input"].read())
    time.sleep(_qarg(environ, "s", float, 1.0))
    return _simple(start_response, path, "200 OK", b"read %d" % n)


def r_big_headers(environ, start_response, path):
    # 1000 headers of 1000-byte values: about 1 MB of response headers.
    headers = list(TEXT) + [("X-Big-%04d" % i, "v" * 1000) for i in range(1000)]
    start_response("200 OK", headers)
    return Tracked(path, [b"big"])


def r_closed(environ, start_response, path):
    with _closed_lock:
        if _qarg(environ, "reset", str, ""):
            del _closed[:]
        data = json.dumps(_closed).encode("utf-8")
    start_response("200 OK", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        ("Cache-Control", "no-store"),
    ])
    return [data]  # not tracked


def r_stream_forever(environ, start_response, path):
    def gen():
        chunk = b"x" * (64 * 1024)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            yield chunk
            time.sleep(0.01)
    start_response("200 OK", list(TEXT))
    return Tracked(path, gen())


def r_stream_n(environ, start_response, path):
    n = _qarg(environ, "n", int, 3)

    def gen():
        for i in range(n):
            yield b"chunk %d\n" % i
    start_response("200 OK", list(TEXT))
    return Tracked(path, gen())


def r_input(environ, start_response, path):
    mode = _qarg(environ, "mode", str, "read")
    stream = environ["wsgi.input"]
    if mode == "read":
        parts = [stream.read()]
    elif mode == "read-n":
        parts = []
        while True:
            data = stream.read(7)
            if not data:
                break
            parts.append(data)
    elif mode == "readline":
        parts = []
        while True:
            line = stream.readline()
            if not line:
                break
            parts.append(line)
    elif mode == "readlines":
        parts = stream.readlines()
    elif mode == "iter":
        parts = [line for line in stream]
    else:
        return _simple(start_response, path, "400 Bad Request",
                       b"unknown mode " + mode.encode("latin-1"))
    joined = b"".join(parts)
    data = json.dumps({
        "mode": mode,
        "parts": [p.decode("latin-1") for p in parts],
        "joined_len": len(joined),
        "joined_sha256": hashlib.sha256(joined).hexdigest(),
    }).encode("utf-8")
    return _simple(start_response, path, "200 OK", data, "application/json")


def r_length_too_short(environ, start_response, path):
    """Declares 5 bytes, yields (or with ?write=1 writes) 10: the server
    must send only 5."""
    write = start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    if _qarg(environ, "write", int, 0):
        write(b"12345")
        write(b"67890")  # no exception: the response stands
        return Tracked(path, [])
    return Tracked(path, [b"12345", b"67890"])


def r_length_too_long(environ, start_response, path):
    """Declares 10 bytes, yields 5: the server must close the connection."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return Tracked(path, [b"12345"])


class _CloseRaises:
    def __iter__(self):
        yield b"fine"

    def close(self):
        raise RuntimeError("close() failed on purpose")


def r_no_content_type(environ, start_response, path):
    # Not wrapped in wsgiref.validate in the tests: it requires a
    # Content-Type, which PEP 3333 does not. Headers and body from the query: ?body=... (the body), ?stream=1
    # (yielded in two pieces, length unknown), ?length=1 (a Content-Length,
    # written with spaces around it as an app may).
    body = _qarg(environ, "body", str, "").encode("latin-1")
    headers = [("X-Content-Type-Options", "nosniff")]
    if _qarg(environ, "length", int, 0):
        headers.append(("Content-Length", " %d " % len(body)))
    start_response("200 OK", headers)
    if _qarg(environ, "stream", int, 0):
        return Tracked(path, [body[:3], body[3:]])
    return Tracked(path, [body])


def r_custom_status(environ, start_response, path):
    # The status line from ?status= ("299 Whatever", "302 FOUND").
    status = _qarg(environ, "status", str, "200 OK")
    start_response(status, TEXT + [("Content-Length", "2")])
    return Tracked(path, [b"ok"])


def r_close_raises(environ, start_response, path):
    """The body is complete; close() raises: the response still stands."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return _CloseRaises()


ROUTES = {
    "/ok": r_ok,
    "/length-too-short": r_length_too_short,
    "/length-too-long": r_length_too_long,
    "/close-raises": r_close_raises,
    "/no-content-type": r_no_content_type,
    "/custom-status": r_custom_status,
    "/raise-before-start": r_raise_before_start,
    "/non-iterable": r_non_iterable,
    "/yield-str": r_yield_str,
    "/bad-status": r_bad_status,
    "/header-crlf": r_header_crlf,
    "/header-non-latin1": r_header_non_latin1,
    "/start-twice": r_start_twice,
    "/raise-mid-iteration": r_raise_mid_iteration,
    "/exc-info": r_exc_info,
    "/exc-info-after-body": r_exc_info_after_body,
    "/header-changed-after-start": r_header_changed_after_start,
    "/exc-info-not-handled": r_exc_info_not_handled,
    "/write-from-thread": r_write_from_thread,
    "/input-keep": r_input_keep,
    "/input-stale": r_input_stale,
    "/write": r_write,
    "/write-keep": r_write_keep,
    "/write-stale": r_write_stale,
    "/file-wrapper": r_file_wrapper,
    "/file-wrapper-nofd": r_file_wrapper_nofd,
    "/big-body": r_big_body,
    "/sleep": r_sleep,
    "/read-then-sleep": r_read_then_sleep,
    "/big-headers": r_big_headers,
    "/closed": r_closed,
    "/stream-forever": r_stream_forever,
    "/stream-n": r_stream_n,
    "/input": r_input,
}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "") or "/"
    route = ROUTES.get(path)
    if route is None:
        return _simple(start_response, path, "404 Not Found", b"not found")
    return route(environ, start_response, path)

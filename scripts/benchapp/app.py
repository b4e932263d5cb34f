"""The benchmark app every server serves (scripts/bench): one WSGI callable,
`application`, that dispatches by path to the plain-WSGI workloads, a Flask
app (/flask/...) and a Django project (/django/...).

Flask and Django are imported at start-up whatever the workload, so a
server's RSS always holds the same code. The 100 MB file comes from
$BENCHAPP_FILE (scripts/bench makes it once for every server); without it
the app writes one into a temporary directory.
"""

import os
import tempfile
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangosite.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

import flaskapp  # noqa: E402

HELLO = b"Hello, world"
BODY_10K = b"x" * 10240
BODY_1MIB = b"x" * (1 << 20)
CHUNK = b"x" * 1024
CHUNKS = 100
FILE_SIZE = 100 * (1 << 20)
READ_SIZE = 64 * 1024


def _big_file():
    path = os.environ.get("BENCHAPP_FILE")
    if path:
        return path
    path = os.path.join(tempfile.mkdtemp(prefix="benchapp-"), "100mb.bin")
    with open(path, "wb") as f:
        f.truncate(FILE_SIZE)
    return path


BIG_FILE = _big_file()


def _fixed(body, content_type=b"text/plain"):
    headers = [("Content-Type", content_type.decode()), ("Content-Length", str(len(body)))]

    def app(environ, start_response):
        start_response("200 OK", list(headers))
        return [body]

    return app


def _read_body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def echo(environ, start_response):
    body = _read_body(environ)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(body)))])
    return [body]


def chunks(environ, start_response):
    # No Content-Length: HTTP/1.1 servers send it chunked, block by block.
    start_response("200 OK", [("Content-Type", "text/plain")])
    return (CHUNK for _ in range(CHUNKS))


def big_file(environ, start_response):
    f = open(BIG_FILE, "rb")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(os.fstat(f.fileno()).st_size))])
    wrapper = environ.get("wsgi.file_wrapper", ReadBlocks)  # granian has none
    return wrapper(f, READ_SIZE)


class ReadBlocks:
    """The fallback PEP 3333 prescribes where a server has no
    wsgi.file_wrapper: the file read block by block."""

    def __init__(self, f, size):
        self.f = f
        self.size = size

    def __iter__(self):
        return iter(lambda: self.f.read(self.size), b"")

    def close(self):
        self.f.close()


def upload(environ, start_response):
    stream = environ["wsgi.input"]
    left = int(environ.get("CONTENT_LENGTH") or 0)
    total = 0
    while left > 0:
        block = stream.read(min(READ_SIZE, left))
        if not block:
            break
        total += len(block)
        left -= len(block)
    body = str(total).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def sleep(environ, start_response):
    time.sleep(0.010)  # an I/O wait: the GIL is released meanwhile
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


ROUTES = {
    "/hello": _fixed(HELLO),
    "/get10k": _fixed(BODY_10K),
    "/echo": echo,
    "/1mib": _fixed(BODY_1MIB, b"application/octet-stream"),
    "/chunks": chunks,
    "/file": big_file,
    "/upload": upload,
    "/sleep": sleep,
}
PREFIXES = (
    ("/flask/", flaskapp.app),
    ("/django/", get_wsgi_application()),
)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    route = ROUTES.get(path)
    if route is not None:
        return route(environ, start_response)
    for prefix, app in PREFIXES:
        if path.startswith(prefix):
            return app(environ, start_response)
    return not_found(environ, start_response)

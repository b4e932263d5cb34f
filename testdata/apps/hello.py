"""The smallest WSGI app: 200, "Hello, world" (12 bytes), text/plain."""

BODY = b"Hello, world"
HEADERS = [
    ("Content-Type", "text/plain"),
    ("Content-Length", str(len(BODY))),
]


def application(environ, start_response):
    start_response("200 OK", list(HEADERS))
    return [BODY]

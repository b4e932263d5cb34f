"""A WSGI app with one seeded fault per request shape of `gowsgi check`
(its test expects exactly one finding for each, where marked FAULT):

  GET /                  Content-Length says 20, the body has 5 bytes
  HEAD /                 a hop-by-hop header (Connection)
  POST / (form body)     a header value that is an int, not a str
  OPTIONS *              a status without a reason phrase
  POST / (chunked body)  an iterable whose close() raises

Everything else about it is correct, so any other finding is a false
positive of the checker.
"""


class ClosingBody:
    """An iterable whose close() fails."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        raise RuntimeError("broken_app: close() failed")  # FAULT: close raises


def application(environ, start_response):
    method = environ["REQUEST_METHOD"]
    text = [("Content-Type", "text/plain")]
    if method == "GET":
        start_response("200 OK", text + [("Content-Length", "20")])  # FAULT: Content-Length
        return [b"short"]
    if method == "HEAD":
        start_response("200 OK", text + [("Connection", "keep-alive")])  # FAULT: hop-by-hop
        return [b""]
    if method == "OPTIONS":
        start_response("200", text + [("Allow", "GET, HEAD, POST, OPTIONS")])  # FAULT: status
        return [b""]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0) or 1 << 16)
    if environ.get("CONTENT_TYPE") == "application/x-www-form-urlencoded":
        start_response("200 OK", text + [("X-Body-Length", len(body))])  # FAULT: not str
        return [body]
    start_response("200 OK", text + [("Content-Length", str(len(body)))])
    return ClosingBody([body])

"""An app whose status passes wsgiref.validate but that gowsgi refuses
(1xx codes are the server's): `gowsgi check` reports the server's refusal."""


def application(environ, start_response):
    start_response("103 Early Hints", [("Content-Type", "text/plain")])  # refused
    return [b"hints"]

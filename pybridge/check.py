# `gowsgi check`: appended to support.py (so load_app and format_exception
# are globals here) only when the interpreter runs for `gowsgi check`.
#
# The app is wrapped twice: inside, wsgiref.validate.validator (PEP 3333's
# reference checks, which raise AssertionError or warn WSGIWarning); outside,
# gowsgi's own checks of what a server cares about (close() called, headers
# are str, no hop-by-hop headers, Content-Length equal to the body). Go runs
# synthetic requests one at a time through the real handler and, after each,
# collects what was found with check_take_findings().
import json
import linecache
import os
import traceback
import warnings
import wsgiref.validate

_HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    )
)
_VALIDATE_FILE = os.path.abspath(wsgiref.validate.__file__)
_WSGIREF_DIR = os.path.dirname(_VALIDATE_FILE)
_WARNINGS_FILE = os.path.abspath(warnings.__file__)

_findings = []
_current = None  # the _RequestState of the request in progress

_default_unraisablehook = sys.unraisablehook


def _quiet_validator_del(unraisable):
    """wsgiref's IteratorWrapper.__del__ fails with AttributeError on a
    wrapper whose __init__ raised (the app returned something that is not
    iterable), once per request: the finding already says so."""
    obj = unraisable.object
    if (
        unraisable.exc_type is AttributeError
        and getattr(obj, "__qualname__", "") == "IteratorWrapper.__del__"
        and getattr(obj, "__module__", "") == "wsgiref.validate"
    ):
        return
    _default_unraisablehook(unraisable)


sys.unraisablehook = _quiet_validator_del


def _ours(filename):
    """True for frames that are the checker's, not the app's."""
    if filename.startswith("<gowsgi"):
        return True
    path = os.path.abspath(filename)
    return path == _WARNINGS_FILE or os.path.dirname(path) == _WSGIREF_DIR


def _where(frames):
    """'file:line' of the innermost frame of frames (outermost first) that
    is the app's, or '' when there is none."""
    for frame in reversed(frames):
        if not _ours(frame.filename):
            return f"{frame.filename}:{frame.lineno}"
    return ""


def _record(check, message, where):
    _findings.append({"check": check, "message": message, "where": where})


def _exception_finding(exc, during, fallback):
    """Records exc, raised while the app ran (during says where), once:
    it is marked, so the layers it passes through next skip it. fallback
    is the place to name when no frame of the traceback is the app's (a
    list that yields str has no frame)."""
    if getattr(exc, "_gowsgi_recorded", False):
        return
    try:
        exc._gowsgi_recorded = True
    except AttributeError:
        pass
    frames = traceback.extract_tb(exc.__traceback__)
    where = _where(frames) or fallback
    innermost = frames[-1] if frames else None
    if (
        isinstance(exc, AssertionError)
        and innermost is not None
        and os.path.abspath(innermost.filename) == _VALIDATE_FILE
    ):
        message = str(exc)
        if not message:
            # assert_(cond) without text: the validator's line says it.
            check = frames[-2] if innermost.name == "assert_" and len(frames) > 1 else innermost
            line = linecache.getline(check.filename, check.lineno).strip()
            message = f"{line} ({check.name} in wsgiref/validate.py)"
        _record("wsgiref.validate", message, where)
        return
    text = traceback.format_exception_only(type(exc), exc)[-1].strip()
    _record("app raised", f"{text} ({during})", where)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, wsgiref.validate.WSGIWarning):
        _record("wsgiref.validate", str(message), _where(traceback.extract_stack()))
        return
    _original_show_warning(message, category, filename, lineno, file, line)


_original_show_warning = warnings.showwarning
warnings.showwarning = _show_warning
warnings.simplefilter("always", wsgiref.validate.WSGIWarning)


class _RequestState:
    def __init__(self, method):
        self.method = method
        self.content_length = None
        self.status = ""
        self.start_where = ""
        self.sent = 0
        self.result = None  # the _CheckedIterable handed to the server
        self.failed = False
        self.app_where = ""  # where the app callable is defined
        self.overflow_reported = False

    def fallback(self):
        """Where to point when a traceback has no frame of the app."""
        return self.start_where or self.app_where


def _check_headers(state, status, headers):
    state.status = status if isinstance(status, str) else ""
    state.start_where = _where(traceback.extract_stack())
    if not isinstance(headers, list):
        return  # the validator says so
    for item in headers:
        if not isinstance(item, tuple) or len(item) != 2:
            continue
        name, value = item
        if type(name) is not str or type(value) is not str:
            _record(
                "headers are str",
                f"header {name!r}: {value!r}: names and values must be str",
                state.start_where,
            )
            continue
        lower = name.lower()
        if lower in _HOP_BY_HOP:
            _record(
                "hop-by-hop header",
                f"{name}: {value}: hop-by-hop headers belong to the server, "
                "an app must not set them (PEP 3333)",
                state.start_where,
            )
        elif lower == "content-length":
            state.content_length = value


class _CheckedIterable:
    """The app's iterable as the server sees it: counts the body bytes and
    notes whether the server called close()."""

    def __init__(self, result, state):
        self._result = result
        self._iter = None
        self._state = state
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self):
        if self._iter is None:
            self._iter = iter(self._result)
        try:
            chunk = next(self._iter)
        except StopIteration:
            raise
        except BaseException as exc:
            self._state.failed = True
            _exception_finding(exc, "while iterating the response", self._state.fallback())
            raise
        if type(chunk) is bytes:
            self._state.sent += len(chunk)
        return chunk

    def close(self):
        self.closed = True
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            frames = traceback.extract_tb(exc.__traceback__)
            text = traceback.format_exception_only(type(exc), exc)[-1].strip()
            _record("close()", f"the iterable's close() raised {text}", _where(frames))
            raise


def check_load_app(spec):
    """load_app(spec), wrapped in the checks."""
    app = load_app(spec)

    def app_seeing_server_environ(environ, start_response):
        if environ.pop("gowsgi.check.asterisk", False):
            environ["PATH_INFO"] = "*"
        return app(environ, start_response)

    validated = wsgiref.validate.validator(app_seeing_server_environ)
    code = getattr(app, "__code__", None) or getattr(
        getattr(app, "__call__", None), "__code__", None
    )
    app_where = f"{code.co_filename}:{code.co_firstlineno}" if code else ""

    def checked_app(environ, start_response):
        global _current
        state = _RequestState(environ.get("REQUEST_METHOD", ""))
        _current = state

        def checking_start_response(*args):
            if len(args) >= 2:
                _check_headers(state, args[0], args[1])
            write = start_response(*args)

            def counting_write(data):
                if type(data) is bytes:
                    state.sent += len(data)
                    declared = state.content_length
                    if (
                        declared is not None
                        and declared.strip().isdigit()
                        and state.sent > int(declared)
                        and not state.overflow_reported
                    ):
                        state.overflow_reported = True
                        _record(
                            "Content-Length",
                            f"write() sent {state.sent} bytes, more than "
                            f"Content-Length {declared}",
                            _where(traceback.extract_stack()),
                        )
                        try:
                            return write(data)
                        except BaseException as exc:
                            exc._gowsgi_recorded = True  # the server's answer to it
                            raise
                return write(data)

            return counting_write

        if environ.get("PATH_INFO") == "*":
            # OPTIONS * (asterisk-form) has no path; gowsgi, like gunicorn,
            # passes PATH_INFO "*", which the validator would take for a
            # path without its "/". The validator sees "", the app "*".
            environ["PATH_INFO"] = ""
            environ["gowsgi.check.asterisk"] = True
        state.app_where = app_where
        try:
            result = validated(environ, checking_start_response)
        except BaseException as exc:
            state.failed = True
            _exception_finding(exc, "calling the app", state.fallback())
            raise
        state.result = _CheckedIterable(result, state)
        return state.result

    return checked_app


def _finish_request(state):
    """The checks that need the whole request to have run."""
    if state.result is None:
        return
    if not state.result.closed:
        _record(
            "close() called",
            "the server did not call close() on the response iterable",
            "gowsgi server",
        )
        try:
            state.result.close()  # so the validator does not complain later
        except BaseException:
            pass
    code = state.status[:3]
    if (
        state.content_length is not None
        and not state.failed
        and state.method != "HEAD"
        and code not in ("204", "304")
        and state.content_length.strip().isdigit()
        and int(state.content_length) != state.sent
    ):
        _record(
            "Content-Length",
            f"Content-Length is {state.content_length} but the body had "
            f"{state.sent} bytes",
            state.start_where,
        )


def check_take_findings(_arg):
    """JSON of the findings since the last call, which it forgets, and
    where the app started its response (for what the server refused)."""
    global _current
    start_where = ""
    if _current is not None:
        _finish_request(_current)
        start_where = _current.fallback()
        _current = None
    taken = list(_findings)
    _findings.clear()
    return json.dumps({"findings": taken, "start_where": start_where})

# Python half of the bridge: the parts that are clearer in Python than in C
# and are not on the per-request hot path (app loading, sys.path set-up,
# wsgi.errors, wsgi.file_wrapper, the streaming wsgi.input). gw_init executes
# this source inside the built-in module `_gowsgi`, so the C functions
# read_body() and log() defined there are globals here.
import ast
import io
import json
import os
import sys
import threading
import traceback


class AppLoadError(Exception):
    """The APP argument could not be turned into a WSGI callable."""


class RequestTimeout(BaseException):
    """Raised inside a request that ran past --request-timeout. A
    BaseException, like KeyboardInterrupt, so that a framework's
    `except Exception` turns it into no 500 page: it reaches the server,
    which answers 504. finally blocks and close() still run."""


def setup(config_json):
    """Put the app's directories on sys.path and make Python safe to embed.

    Returns a JSON description of the interpreter for the startup log.
    """
    config = json.loads(config_json)
    # Like gunicorn: the working directory (or --chdir) first, then each
    # --pythonpath entry, in the order given.
    for entry in reversed(config.get("pythonpath") or []):
        sys.path.insert(0, os.path.abspath(entry))
    sys.path.insert(0, os.getcwd())
    # Go owns the process; a fork() of a running Go runtime leaves a child
    # that hangs, so multiprocessing must start its children with spawn.
    import multiprocessing

    try:
        multiprocessing.set_start_method("spawn", force=True)
    except RuntimeError:
        pass
    return json.dumps(
        {
            "version": sys.version,
            "prefix": sys.prefix,
            "base_prefix": sys.base_prefix,
            "executable": sys.executable,
            "path": sys.path,
        }
    )


def _split_factory(attr):
    """'make_app(1, x="y")' -> ('make_app', (1,), {'x': 'y'}); 'app' -> ('app', None, None)."""
    if "(" not in attr:
        return attr, None, None
    try:
        call = ast.parse(attr, mode="eval").body
    except SyntaxError as exc:
        raise AppLoadError(f"cannot parse {attr!r}: {exc.msg}") from None
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise AppLoadError(f"{attr!r} is not a name or a call of a name")
    try:
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except ValueError:
        raise AppLoadError(
            f"factory arguments in {attr!r} must be Python literals"
        ) from None
    return call.func.id, args, kwargs


def load_app(spec):
    """Import APP ('module', 'module:callable' or 'module:factory(args)')."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise AppLoadError(f"{spec!r}: expected module:callable")
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        # Only our own module missing is a load error; an ImportError raised
        # inside the app's code is shown with its traceback.
        if isinstance(exc, ModuleNotFoundError) and exc.name and (
            module_name == exc.name or module_name.startswith(exc.name + ".")
        ):
            raise AppLoadError(
                f"cannot import module {module_name!r}: "
                f"ModuleNotFoundError: {exc}; sys.path = {sys.path}"
                + HINT + _module_hint()
            ) from None
        if isinstance(exc, ModuleNotFoundError) and exc.name and _not_installed(exc):
            # A library the app needs is missing: nearly always the wrong
            # Python (no virtualenv, or another one), not a bug to trace.
            raise AppLoadError(
                f"the app imports {exc.name!r}{_import_site(exc)}, which this Python "
                f"({sys.prefix}) cannot find: ModuleNotFoundError: {exc}"
                + HINT + _install_hint(exc.name.partition(".")[0])
            ) from None
        raise
    except Exception as exc:
        # Django's "settings are not configured" is a setup mistake, not a
        # bug in the app: one line and what to do, not a traceback.
        if type(exc).__name__ == "ImproperlyConfigured" and "DJANGO_SETTINGS_MODULE" in str(exc):
            raise AppLoadError(
                f"Django settings are not configured: {exc}" + HINT + _settings_hint()
            ) from None
        raise
    if attr:
        name, args, kwargs = _split_factory(attr)
        candidates = [name]
    else:
        name, args, kwargs = None, None, None
        candidates = ["application", "app"]
    for candidate in candidates:
        if hasattr(module, candidate):
            obj = getattr(module, candidate)
            break
    else:
        raise AppLoadError(
            f"module {module_name!r} ({getattr(module, '__file__', '?')}) has no "
            f"attribute {' or '.join(repr(c) for c in candidates)}: "
            f"AttributeError; sys.path = {sys.path}"
        )
    if args is not None:
        obj = obj(*args, **kwargs)
    if not callable(obj):
        raise AppLoadError(
            f"{spec!r} is a {type(obj).__name__}, not a callable WSGI app: "
            f"TypeError; sys.path = {sys.path}"
        )
    _check_wsgi_signature(spec, f"{module_name}:{candidate}", obj, called=args is not None)
    return obj


def _check_wsgi_signature(spec, resolved, obj, called):
    """A WSGI app is called with (environ, start_response). A callable that
    cannot take them is most often an app factory given without its call
    (Flask's create_app): say so now, not as a 500 on every request."""
    import inspect

    try:
        # follow_wrapped=False: a functools.wraps decorator that makes a
        # WSGI app of a view (werkzeug's @Request.application) carries the
        # view's signature in __wrapped__, not its own.
        inspect.signature(obj, follow_wrapped=False).bind(None, None)
    except TypeError as exc:
        hint = (
            f"if {resolved.partition(':')[2]} makes the app, call it: {resolved}()"
            if not called else "the factory must return the WSGI app"
        )
        raise AppLoadError(
            f"{spec!r} cannot be called as a WSGI app, with (environ, "
            f"start_response): {exc}" + HINT + hint
        ) from None
    except ValueError:
        pass  # no signature to read (some builtins): let it be tried


# HINT starts the line of an AppLoadError that says what to do (Go prints
# it as "gowsgi: hint: ...").
HINT = "\nhint: "

# Directories never searched for candidate modules.
_SKIP_DIRS = {".git", "__pycache__", "node_modules", "site-packages", ".tox", ".venv", "venv"}


def _find_files(names, depth=2, limit=5):
    """Paths (relative to the working directory) of files named in names,
    at most depth directories down, skipping venvs and caches."""
    found = []
    root = os.getcwd()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        level = 0 if rel == "." else rel.count(os.sep) + 1
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in _SKIP_DIRS and not d.startswith(".")
            and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
        )
        if level >= depth:
            dirnames[:] = []
        for name in sorted(filenames):
            if name in names:
                found.append(os.path.normpath(os.path.join(rel, name)))
                if len(found) >= limit:
                    return found
    return found


def _as_module(path):
    """'proj/site/wsgi.py' -> ('proj', 'site.wsgi'): the sys.path entry
    (relative; '.' for here) and the dotted module, going up through the
    directories that are packages."""
    parts = [os.path.splitext(os.path.basename(path))[0]]
    directory = os.path.dirname(path)
    while directory and os.path.exists(os.path.join(directory, "__init__.py")):
        parts.insert(0, os.path.basename(directory))
        directory = os.path.dirname(directory)
    return directory or ".", ".".join(parts)


def _describe(paths, attr=""):
    out = []
    for path in paths:
        entry, module = _as_module(path)
        out.append(module + attr if entry == "." else f"{module}{attr} with --chdir {entry}")
    return ", ".join(out)


def _module_hint():
    candidates = _find_files({"wsgi.py"})
    where = f"run gowsgi from the project's directory, or pass --chdir DIR or --pythonpath DIR (now in {os.getcwd()})"
    if candidates:
        return where + "; WSGI modules found here: " + _describe(candidates)
    return where + "; no wsgi.py found under it"


def _not_installed(exc):
    """Whether the top-level package of a missing module is missing too,
    and no module of that name sits beside the importing file or in the
    working directory (then it is the app's own, off sys.path: the
    traceback says more than an install hint would)."""
    import importlib.util

    top = exc.name.partition(".")[0]
    try:
        if importlib.util.find_spec(top) is not None:
            return False
    except (ImportError, ValueError):
        return False
    dirs = {os.getcwd()}
    site = _importing_frame(exc)
    if site:
        dirs.add(os.path.dirname(os.path.abspath(site.filename)))
    return not any(
        os.path.exists(os.path.join(d, top + ".py")) or os.path.isdir(os.path.join(d, top))
        for d in dirs
    )


def _importing_frame(exc):
    """The app's frame that made the failed import, or None: the last one
    not from importlib's frozen modules or gowsgi's own ("<...>" files)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    return frames[-1] if frames else None


def _import_site(exc):
    """' (at FILE:LINE)': the app's line that imported it, if known."""
    site = _importing_frame(exc)
    return f" (at {site.filename}:{site.lineno})" if site else ""


def _install_hint(top):
    if sys.prefix == sys.base_prefix:
        try:  # .venv, venv, env: hidden or not, at the project's top
            found = [d for d in sorted(os.listdir(".")) if os.path.isfile(os.path.join(d, "pyvenv.cfg"))][:5]
        except OSError:
            found = []
        hint = ("no virtualenv is in use: activate the project's "
                "(source .venv/bin/activate) or pass --virtualenv DIR")
        if found:
            hint += "; virtualenvs found here: " + ", ".join(found)
        return hint
    return (f"install the package that provides {top!r} into the virtualenv in use: "
            f"{sys.prefix}/bin/python -m pip install ...")


def _settings_hint():
    candidates = _find_files({"settings.py"}, depth=3)
    hint = ("set DJANGO_SETTINGS_MODULE (e.g. in your wsgi.py: "
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings'))")
    if candidates:
        hint += "; settings modules found here: " + _describe(candidates)
    return hint


# --reload's warm spare (host/reload_spare.go): a worker started ahead of
# the next save imports what the app's last import used, except the app's
# own code, then waits; on the save only the app's code remains to import.

_NEVER_PRELOAD = {"this", "antigravity", "__main__", "__mp_main__"}


def _app_file(path, roots):
    """Whether a module's file is the app's own code (under a root and not
    in an installed package)."""
    if not path:
        return False
    real = os.path.realpath(path)
    if os.sep + "site-packages" + os.sep in real or os.sep + "dist-packages" + os.sep in real:
        return False
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep)
               for r in (os.path.realpath(root) for root in roots))


def preloadable_modules(roots_json):
    """JSON list, in import order: loaded stdlib modules, and top-level
    names of loaded third-party packages. Never the app's own modules."""
    roots = json.loads(roots_json) or [os.getcwd()]
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    names, seen, size = [], set(), 0
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if top in _NEVER_PRELOAD or top.startswith("_gowsgi"):
            continue
        if top in stdlib:
            candidate = name
        else:
            top_module = sys.modules.get(top)
            path = getattr(top_module, "__file__", None)
            if not path or _app_file(path, roots):
                continue
            candidate = top
        if candidate in seen:
            continue
        size += len(candidate) + 3
        if size > 48 * 1024:  # it travels in a heartbeat line and the environment
            break
        seen.add(candidate)
        names.append(candidate)
    return json.dumps(names)


def preload(config_json):
    """Import the modules named; one that fails is skipped (the app's
    import will try again). Returns JSON: the app's own modules that got
    imported on the way, which would go stale."""
    import importlib

    config = json.loads(config_json)
    roots = config.get("roots") or [os.getcwd()]
    for name in config.get("modules") or []:
        try:
            importlib.import_module(name)
        except (Exception, SystemExit):
            pass
    tainted = [name for name, module in list(sys.modules.items())
               if _app_file(getattr(module, "__file__", None), roots)]
    return json.dumps(tainted)


def format_exception(exc):
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class ErrorStream:
    """wsgi.errors: text written here becomes error-log records, one per line."""

    def __init__(self):
        self._local = threading.local()

    def _pending(self):
        try:
            return self._local.pending
        except AttributeError:
            self._local.pending = []
            return self._local.pending

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors.write() takes str, not {type(text).__name__}")
        pending = self._pending()
        pending.append(text)
        if "\n" in text:
            joined = "".join(pending)
            complete, _, rest = joined.rpartition("\n")
            pending.clear()
            if rest:
                pending.append(rest)
            log(complete)
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pending = self._pending()
        if pending:
            log("".join(pending))
            pending.clear()


class FileWrapper:
    """wsgi.file_wrapper. When the file has a real descriptor, the server
    sends it with sendfile(2) and never iterates it; otherwise it is iterated
    in blocks like any other iterable."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block

    def sendfile_position(self):
        """(fd, offset) when the file can be sent with sendfile, else None."""
        # Any Exception means "no descriptor": a hand-written file-like's
        # fileno() may raise NotImplementedError or TypeError, and then the
        # body is read through __iter__. A RequestTimeout (BaseException)
        # still fails the request.
        try:
            fd = self.filelike.fileno()
            offset = self.filelike.tell()
        except Exception:
            return None
        if not isinstance(fd, int) or fd < 0:
            return None
        return fd, offset


class _BodyRaw(io.RawIOBase):
    """Reads the request body from Go, with the GIL released while waiting."""

    def readable(self):
        return True

    def __init__(self, input_id):
        self._input_id = input_id

    def readinto(self, buffer):
        return read_body(buffer, self._input_id)


class _EmptyInput:
    """wsgi.input of a request without a body. It has no state, so one
    object serves every such request (no io.BytesIO made per GET)."""

    def read(self, size=-1):
        return b""

    def readline(self, size=-1):
        return b""

    def readlines(self, hint=-1):
        return []

    def __iter__(self):
        return iter(())

    def close(self):
        pass


empty_input = _EmptyInput()


def stream_input(input_id):
    """wsgi.input for bodies Go did not read ahead (large or chunked).
    input_id ties it to its request: read later, or from another
    request's thread, it raises instead of reading someone else's body."""
    return io.BufferedReader(_BodyRaw(input_id), 65536)


errors = ErrorStream()

"""Run any testdata app behind wsgiref.validate.validator.

    gowsgi run validate_wrap:wrap("hello")
    gowsgi run 'validate_wrap:wrap("flask_app.app:app")'
    gowsgi run 'validate_wrap:wrap("demo.wsgi:application")'

wrap(spec) takes "module" (attribute `application`) or "module:attr"
(attr may be dotted, e.g. "pkg.mod:obj.wsgi_app") and returns
wsgiref.validate.validator(<that app>).  The validator raises
AssertionError on any PEP 3333 breach by either side (the server's environ
or the app's response), and the server then answers 500 and logs it.

So that only testdata/apps has to be on sys.path, importing this module
appends testdata/ (for flask_app) and testdata/django_demo/ (for demo)
to sys.path when they are not there already.
"""

import importlib
import os
import sys
from wsgiref.validate import validator

_HERE = os.path.dirname(os.path.abspath(__file__))
_TESTDATA = os.path.dirname(_HERE)
for _extra in (_TESTDATA, os.path.join(_TESTDATA, "django_demo")):
    if _extra not in sys.path:
        sys.path.append(_extra)


def load(spec):
    """Import "module" or "module:attr" and return the WSGI callable."""
    module_name, _, attr = spec.partition(":")
    obj = importlib.import_module(module_name)
    for part in (attr or "application").split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError("%s is not callable" % spec)
    return obj


def wrap(spec):
    """Return wsgiref.validate.validator(load(spec))."""
    return validator(load(spec))

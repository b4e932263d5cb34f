/* start_response.c: the start_response callable and its write() method. */
#include "bridge_internal.h"
#include "_cgo_export.h"

/* What a write()'s capsule points at once its start_response is gone. */
static char gw_write_orphan;

static void sr_dealloc(gw_start_response *self) {
    Py_XDECREF(self->status);
    Py_XDECREF(self->headers);
    if (self->write != NULL) {
        /* The app may still hold the write(): cut it loose. */
        PyObject *capsule = PyCFunction_GET_SELF(self->write);
        if (PyCapsule_SetPointer(capsule, &gw_write_orphan) < 0) {
            PyErr_Clear();
        }
        Py_DECREF(self->write);
    }
    PyObject_Free(self);
}

gw_start_response *gw_start_response_done(gw_start_response *sr) {
    sr->thread = NULL;
    Py_CLEAR(sr->status);
    Py_CLEAR(sr->headers);
    if (Py_REFCNT(sr) == 1 && (sr->write == NULL || Py_REFCNT(sr->write) == 1)) {
        return sr;
    }
    Py_DECREF(sr);
    return NULL;
}

/* gw_check_header enforces PEP 3333's type for header i: a (str, str)
 * tuple. -1 with TypeError set otherwise. */
int gw_check_header(PyObject *item, Py_ssize_t i) {
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(item, 0)) ||
        !PyUnicode_Check(PyTuple_GET_ITEM(item, 1))) {
        PyErr_Format(PyExc_TypeError,
                     "start_response: header %zd must be a (str, str) tuple, got %R", i,
                     item);
        return -1;
    }
    return 0;
}

/* sr_check_headers enforces PEP 3333's types: a list of (str, str) tuples. */
static int sr_check_headers(PyObject *status, PyObject *headers) {
    if (!PyUnicode_Check(status)) {
        PyErr_Format(PyExc_TypeError, "start_response: status must be str, not %.100s",
                     Py_TYPE(status)->tp_name);
        return -1;
    }
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError,
                     "start_response: headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(headers);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (gw_check_header(PyList_GET_ITEM(headers, i), i) < 0) {
            return -1;
        }
    }
    return 0;
}

/* sr_reraise raises exc_info's exception (PEP 3333: start_response with
 * exc_info after the headers went out). Only what sys.exc_info() gives
 * during a handled exception is accepted: handing anything else (such as
 * the (None, None, None) it gives outside one) to PyErr_Restore crashes
 * or corrupts the interpreter. Always returns NULL with an exception set. */
static PyObject *sr_reraise(PyObject *exc_info) {
    if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3 ||
        !PyExceptionInstance_Check(PyTuple_GET_ITEM(exc_info, 1))) {
        PyErr_Format(PyExc_TypeError,
                     "start_response: exc_info must be sys.exc_info() of a handled "
                     "exception, got %R",
                     exc_info);
        return NULL;
    }
    PyObject *value = PyTuple_GET_ITEM(exc_info, 1);
    PyObject *tb = PyTuple_GET_ITEM(exc_info, 2);
    if (PyTraceBack_Check(tb) && PyException_SetTraceback(value, tb) < 0) {
        return NULL;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(value), value);
    return NULL;
}

/* sr_start is start_response(status, headers, exc_info).
 * Returns a new reference to the thread's write callable. */
static PyObject *sr_start(gw_start_response *self, PyObject *status, PyObject *headers,
                          PyObject *exc_info) {
    gw_thread *t = self->thread;
    if (t == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "start_response called after its request ended");
        return NULL;
    }
    if (exc_info != Py_None) {
        if (t->headers_sent) {
            /* PEP 3333: too late to change the response; re-raise. */
            return sr_reraise(exc_info);
        }
    } else if (self->status != NULL) {
        PyErr_SetString(PyExc_AssertionError,
                        "start_response called a second time without exc_info");
        return NULL;
    }
    if (sr_check_headers(status, headers) < 0) {
        return NULL;
    }
    Py_INCREF(status);
    Py_INCREF(headers);
    Py_XSETREF(self->status, status);
    Py_XSETREF(self->headers, headers);
    if (self->write == NULL && (self->write = gw_new_write(self)) == NULL) {
        return NULL;
    }
    return Py_NewRef(self->write);
}

/* sr_vectorcall parses (status, response_headers, exc_info=None) without
 * building an argument tuple: start_response runs on every request. */
static PyObject *sr_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                               PyObject *kwnames) {
    static const char *names[] = {"status", "response_headers", "exc_info"};
    PyObject *argv[3] = {NULL, NULL, NULL};
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError, "start_response() takes at most 3 arguments (%zd given)", nargs);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        argv[i] = args[i];
    }
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t j = 0; j < nkw; j++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, j);
        int slot = -1;
        for (int k = 0; k < 3; k++) {
            if (PyUnicode_CompareWithASCIIString(name, names[k]) == 0) {
                slot = k;
            }
        }
        if (slot < 0 || argv[slot] != NULL) {
            PyErr_Format(PyExc_TypeError, "start_response() got an unexpected or repeated argument %R", name);
            return NULL;
        }
        argv[slot] = args[nargs + j];
    }
    if (argv[0] == NULL || argv[1] == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "start_response() missing required argument 'status' or 'response_headers'");
        return NULL;
    }
    return sr_start((gw_start_response *)callable, argv[0], argv[1],
                    argv[2] ? argv[2] : Py_None);
}

gw_start_response *gw_new_start_response(gw_thread *t) {
    gw_start_response *sr = PyObject_New(gw_start_response, &gw_start_response_type);
    if (sr == NULL) {
        return NULL;
    }
    sr->vectorcall = sr_vectorcall;
    sr->thread = t;
    sr->status = NULL;
    sr->headers = NULL;
    sr->write = NULL;
    return sr;
}

/* write(data): the legacy imperative body API. Sends the headers if they
 * are not out yet, then the bytes, unbuffered, with the GIL released.
 * Each start_response object has its own (made on first use); its self is
 * a capsule holding that gw_start_response, so a write() kept past its
 * request finds the request over instead of writing into a later one. */
static PyObject *gw_write(PyObject *capsule, PyObject *data) {
    gw_start_response *sr = PyCapsule_GetPointer(capsule, "gowsgi.write");
    if (sr == NULL) {
        return NULL;
    }
    gw_thread *t = sr == (void *)&gw_write_orphan ? NULL : sr->thread;
    if (t == NULL || t->start_response != sr) {
        PyErr_SetString(PyExc_RuntimeError, "write() called after its request ended");
        return NULL;
    }
    if (sr->status == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "write() called before start_response");
        return NULL;
    }
    if (gw_current != t) {
        /* Kept by the app and called from another thread: the response
         * belongs to t's thread, which may be writing to it right now. */
        PyErr_SetString(PyExc_RuntimeError,
                        "write() called from a thread other than its request's");
        return NULL;
    }
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    const char *headers = NULL;
    size_t headers_len = 0;
    if (!t->headers_sent) {
        if (gw_pack_headers(t) < 0) {
            return NULL;
        }
        headers = t->headers;
        headers_len = t->headers_len;
    }
    int rc;
    const char *p = PyBytes_AS_STRING(data);
    size_t n = (size_t)PyBytes_GET_SIZE(data);
    int count = t->header_count;
    PyThreadState *ts = gw_release_gil(t);
    int in_python = gw_enter_go();
    rc = gowsgiWrite(t->go_handle, (char *)headers, headers_len, count, (char *)p, n);
    gw_leave_go(in_python);
    gw_acquire_gil(t, ts);
    if (rc == -2) {
        PyErr_SetString(PyExc_ValueError, "write(): invalid status or headers (see the error log)");
        return NULL;
    }
    t->headers_sent = 1;
    if (rc != 0) {
        PyErr_SetString(PyExc_OSError, "write(): the client connection is gone");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef gw_write_def = {
    "write", (PyCFunction)gw_write, METH_O, "Write body bytes (PEP 3333 write()).",
};

PyObject *gw_new_write(gw_start_response *sr) {
    PyObject *capsule = PyCapsule_New(sr, "gowsgi.write", NULL);
    if (capsule == NULL) {
        return NULL;
    }
    PyObject *write = PyCFunction_New(&gw_write_def, capsule);
    Py_DECREF(capsule);
    return write;
}

PyTypeObject gw_start_response_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_gowsgi.StartResponse",
    .tp_basicsize = sizeof(gw_start_response),
    .tp_dealloc = (destructor)sr_dealloc,
    .tp_vectorcall_offset = offsetof(gw_start_response, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "start_response(status, response_headers, exc_info=None)",
};

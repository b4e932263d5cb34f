/* module.c: the built-in module _gowsgi, which support.py runs inside. Its
 * C functions are the Python-side doors into Go. */
#include "bridge_internal.h"
#include "_cgo_export.h"

__thread gw_thread *gw_current;

/* read_body(buffer, input_id) -> int: fill a writable buffer from the
 * request body, waiting for the network with the GIL released. 0 means end
 * of body. input_id is the wsgi.input's (gw_make_input): a stream kept past
 * its request, or passed to another request's thread, must not read the
 * body this thread serves now. */
static PyObject *gw_read_body(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "read_body() takes a buffer and an input id");
        return NULL;
    }
    unsigned long long input_id = PyLong_AsUnsignedLongLong(args[1]);
    if (input_id == (unsigned long long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    gw_thread *t = gw_current;
    if (t == NULL || t->start_response == NULL || t->input_id != input_id) {
        PyErr_SetString(PyExc_RuntimeError,
                        "wsgi.input read outside its request (after it ended, or from "
                        "another thread)");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        return NULL;
    }
    PyThreadState *ts = gw_release_gil(t);
    int in_python = gw_enter_go();
    long long n = gowsgiReadBody(t->go_handle, view.buf, (size_t)view.len);
    gw_leave_go(in_python);
    gw_acquire_gil(t, ts);
    PyBuffer_Release(&view);
    if (n < 0) {
        PyErr_SetString(PyExc_OSError,
                        "wsgi.input: reading the request body failed (client gone, "
                        "timeout, or body larger than allowed)");
        return NULL;
    }
    return PyLong_FromLongLong(n);
}

/* log(text): one error-log record (wsgi.errors ends here). */
static PyObject *gw_log(PyObject *module, PyObject *arg) {
    (void)module;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "log() takes str");
        return NULL;
    }
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(arg, &n);
    if (p == NULL) {
        return NULL;
    }
    gw_thread *t = gw_current; /* NULL on an app's own thread */
    PyThreadState *ts = gw_release_gil(t);
    int in_python = gw_enter_go();
    gowsgiLog((char *)p, (size_t)n);
    gw_leave_go(in_python);
    gw_acquire_gil(t, ts);
    Py_RETURN_NONE;
}

static PyMethodDef gw_module_methods[] = {
    {"read_body", (PyCFunction)(void (*)(void))gw_read_body, METH_FASTCALL,
     "Read request body bytes into a buffer."},
    {"log", gw_log, METH_O, "Write one record to the server's error log."},
    {NULL, NULL, 0, NULL},
};

static int gw_module_exec(PyObject *module) {
    if (PyType_Ready(&gw_start_response_type) < 0) {
        return -1;
    }
    Py_INCREF(&gw_start_response_type);
    if (PyModule_AddObject(module, "StartResponse", (PyObject *)&gw_start_response_type) < 0) {
        Py_DECREF(&gw_start_response_type);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot gw_module_slots[] = {
    {Py_mod_exec, gw_module_exec},
    {0, NULL},
};

PyModuleDef gw_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_gowsgi",
    .m_doc = "gowsgi's bridge between Python and the Go server.",
    .m_size = 0,
    .m_methods = gw_module_methods,
    .m_slots = gw_module_slots,
};

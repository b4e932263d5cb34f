/* interp.c: interpreter lifecycle, the _gowsgi built-in module, app loading. */
#define PY_SSIZE_T_CLEAN
#include <Python.h> /* first: its pyconfig.h defines _GNU_SOURCE, which dladdr needs */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "bridge_internal.h"

gw_globals gw;

/* gw_strdup_utf8 copies a str's UTF-8 form into malloc'd memory. */
static char *gw_strdup_utf8(PyObject *s) {
    Py_ssize_t n = 0;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (p == NULL) {
        PyErr_Clear();
        return strdup("(unprintable)");
    }
    char *copy = malloc((size_t)n + 1);
    if (copy != NULL) {
        memcpy(copy, p, (size_t)n);
        copy[n] = '\0';
    }
    return copy;
}

/* gw_take_error turns the pending Python exception into a malloc'd message:
 * the message alone for an AppLoadError, the whole traceback otherwise. */
char *gw_take_error(void) {
    PyObject *exc = gw_fetch_exception();
    if (exc == NULL) {
        return strdup("unknown error (no Python exception set)");
    }
    char *msg = NULL;
    if (gw.app_load_error != NULL && PyObject_IsInstance(exc, gw.app_load_error) == 1) {
        PyObject *s = PyObject_Str(exc);
        if (s != NULL) {
            msg = gw_strdup_utf8(s);
            Py_DECREF(s);
        }
    } else {
        PyObject *text = gw_format_exception(exc);
        if (text != NULL) {
            msg = gw_strdup_utf8(text);
            Py_DECREF(text);
        }
    }
    PyErr_Clear();
    Py_DECREF(exc);
    return msg != NULL ? msg : strdup("error while formatting a Python exception");
}

/* gw_fetch_exception returns a new reference to the pending exception
 * instance (normalised) and clears it, or NULL when none is set. */
PyObject *gw_fetch_exception(void) {
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        return NULL;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (value == NULL) {
        Py_INCREF(Py_None);
        value = Py_None;
    }
    if (tb != NULL && PyExceptionInstance_Check(value)) {
        PyException_SetTraceback(value, tb);
    }
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
}

/* gw_format_exception returns a new reference to the formatted traceback
 * (str), or NULL with an exception set. */
PyObject *gw_format_exception(PyObject *exc) {
    return PyObject_CallOneArg(gw.format_exception, exc);
}

static PyObject *gw_module_init(void) {
    return PyModuleDef_Init(&gw_module_def);
}

static char *gw_status_error(PyStatus status) {
    char buf[512];
    snprintf(buf, sizeof buf, "initialise Python: %s%s%s",
             status.func ? status.func : "", status.func ? ": " : "",
             status.err_msg ? status.err_msg : "unknown error");
    return strdup(buf);
}

static PyObject *gw_presized_copy(PyObject *d, Py_ssize_t room);

int gw_init(const char *program, const char *support_src,
            const char **known_keys, int known_count, int multithread,
            int multiprocess, char **err) {
    if (PyImport_AppendInittab("_gowsgi", gw_module_init) != 0) {
        *err = strdup("register the _gowsgi module");
        return -1;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    /* Go owns signals and the command line. */
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    /* program_name drives the prefix search: a venv's bin/python makes
     * Python find pyvenv.cfg, set sys.prefix to the venv and use its
     * site-packages; the base Python's own binary gives its stdlib. Either
     * way sys.executable is a real Python, so subprocess and spawn work. */
    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, program);
    if (PyStatus_Exception(status)) {
        PyConfig_Clear(&config);
        *err = gw_status_error(status);
        return -1;
    }
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        *err = gw_status_error(status);
        return -1;
    }

    PyObject *module = PyImport_ImportModule("_gowsgi");
    if (module == NULL) {
        goto fail;
    }
    gw.module = module;
    PyObject *dict = PyModule_GetDict(module); /* borrowed */
    PyObject *code = Py_CompileString(support_src, "<gowsgi support.py>", Py_file_input);
    if (code == NULL) {
        goto fail;
    }
    PyObject *ran = PyEval_EvalCode(code, dict, dict);
    Py_DECREF(code);
    if (ran == NULL) {
        goto fail;
    }
    Py_DECREF(ran);

    /* Objects every request needs, looked up once. */
    gw.format_exception = PyDict_GetItemString(dict, "format_exception");
    gw.app_load_error = PyDict_GetItemString(dict, "AppLoadError");
    gw.stream_input = PyDict_GetItemString(dict, "stream_input");
    gw.file_wrapper = PyDict_GetItemString(dict, "FileWrapper");
    gw.empty_input = PyDict_GetItemString(dict, "empty_input");
    gw.request_timeout = PyDict_GetItemString(dict, "RequestTimeout");
    PyObject *errors = PyDict_GetItemString(dict, "errors");
    if (!gw.format_exception || !gw.app_load_error || !gw.stream_input ||
        !gw.file_wrapper || !gw.empty_input || !gw.request_timeout || !errors) {
        PyErr_SetString(PyExc_RuntimeError, "support.py lacks a required name");
        goto fail;
    }
    Py_INCREF(gw.format_exception);
    Py_INCREF(gw.app_load_error);
    Py_INCREF(gw.stream_input);
    Py_INCREF(gw.file_wrapper);
    Py_INCREF(gw.empty_input);
    Py_INCREF(gw.request_timeout);

    PyObject *io = PyImport_ImportModule("io");
    if (io == NULL) {
        goto fail;
    }
    gw.bytes_io = PyObject_GetAttrString(io, "BytesIO");
    Py_DECREF(io);
    if (gw.bytes_io == NULL) {
        goto fail;
    }
    gw.str_close = PyUnicode_InternFromString("close");
    gw.str_sendfile_position = PyUnicode_InternFromString("sendfile_position");
    gw.key_wsgi_input = PyUnicode_InternFromString("wsgi.input");
    if (!gw.str_close || !gw.str_sendfile_position || !gw.key_wsgi_input) {
        goto fail;
    }

    gw.known_count = known_count;
    gw.known_keys = calloc((size_t)known_count, sizeof(PyObject *));
    gw.value_cache = calloc((size_t)known_count, sizeof(PyObject *));
    if (gw.known_keys == NULL || gw.value_cache == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    gw.key_request_method = gw.key_raw_uri = -1;
    for (int i = 0; i < known_count; i++) {
        gw.known_keys[i] = PyUnicode_InternFromString(known_keys[i]);
        if (gw.known_keys[i] == NULL) {
            goto fail;
        }
        if (strcmp(known_keys[i], "REQUEST_METHOD") == 0) {
            gw.key_request_method = i;
        } else if (strcmp(known_keys[i], "RAW_URI") == 0) {
            gw.key_raw_uri = i;
        }
    }

    /* The entries that are the same for every request; each request's
     * environ starts as a copy of this dict. */
    PyObject *constant = Py_BuildValue(
        "{s:(ii),s:O,s:O,s:O,s:O,s:O,s:O,s:s}",
        "wsgi.version", 1, 0,
        "wsgi.multithread", multithread ? Py_True : Py_False,
        "wsgi.multiprocess", multiprocess ? Py_True : Py_False,
        "wsgi.run_once", Py_False,
        "wsgi.input_terminated", Py_True,
        "wsgi.errors", errors,
        "wsgi.file_wrapper", gw.file_wrapper,
        "SERVER_SOFTWARE", "gowsgi");
    if (constant == NULL) {
        goto fail;
    }
    gw.base_environ = gw_presized_copy(constant, GW_ENVIRON_PRESIZE);
    Py_DECREF(constant);
    if (gw.base_environ == NULL) {
        goto fail;
    }
    if (gw_crash_install() < 0) {
        goto fail;
    }
    return 0;

fail:
    *err = gw_take_error();
    return -1;
}

/* gw_presized_copy returns a new reference to a copy of d whose hash table
 * has room for `room` entries. PyDict_Copy of a compact dict clones its
 * table at the same size, so every request's environ copied from this one
 * takes its ~30 entries without resizing (a small dict would resize twice,
 * which was a tenth of gowsgi's own time per request). Items go in one by
 * one: PyDict_Update into an empty dict would clone d's small table. */
static PyObject *gw_presized_copy(PyObject *d, Py_ssize_t room) {
    PyObject *copy = _PyDict_NewPresized(room);
    if (copy == NULL) {
        return NULL;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(d, &pos, &key, &value)) {
        if (PyDict_SetItem(copy, key, value) < 0) {
            Py_DECREF(copy);
            return NULL;
        }
    }
    return copy;
}

/* gw_call_support returns a new reference to _gowsgi.<func>(arg), or NULL
 * with an exception set. */
static PyObject *gw_call_support(const char *func, const char *arg) {
    PyObject *fn = PyObject_GetAttrString(gw.module, func);
    if (fn == NULL) {
        return NULL;
    }
    PyObject *result = PyObject_CallFunction(fn, "s", arg);
    Py_DECREF(fn);
    return result;
}

int gw_support_call(const char *func, const char *arg, char **out, char **err) {
    PyObject *result = gw_call_support(func, arg);
    if (result == NULL) {
        *err = gw_take_error();
        return -1;
    }
    if (!PyUnicode_Check(result)) {
        Py_DECREF(result);
        *err = strdup("support function did not return str");
        return -1;
    }
    *out = gw_strdup_utf8(result);
    Py_DECREF(result);
    return 0;
}

int gw_load_app(const char *loader, const char *spec, char **err) {
    PyObject *app = gw_call_support(loader, spec);
    if (app == NULL) {
        *err = gw_take_error();
        return -1;
    }
    Py_XSETREF(gw.app, app);
    return 0;
}

int gw_thread_support_call(gw_thread *t, const char *func, const char *arg, char **out,
                           char **err) {
    PyEval_RestoreThread(t->tstate);
    int rc = gw_support_call(func, arg, out, err);
    t->tstate = PyEval_SaveThread();
    return rc;
}

void gw_release_init_thread(void) {
    gw.init_tstate = PyEval_SaveThread();
}

void gw_reacquire_init_thread(void) {
    PyEval_RestoreThread(gw.init_tstate);
}

int gw_finalize(void) {
    PyEval_RestoreThread(gw.init_tstate);
    return Py_FinalizeEx();
}

const char *gw_python_version(void) {
    return Py_GetVersion(); /* safe without the GIL: a static string */
}

/* gw_default_program returns a malloc'd path to the python binary that
 * belongs to the libpython this process loaded (<prefix>/bin/python3.X),
 * found from libpython's own file name, or NULL. */
char *gw_default_program(void) {
    Dl_info info;
    if (dladdr((void *)Py_InitializeFromConfig, &info) == 0 || info.dli_fname == NULL) {
        return NULL;
    }
    char lib[4096];
    snprintf(lib, sizeof lib, "%s", info.dli_fname);
    /* <prefix>/lib/libpython3.X.so -> <prefix> */
    for (int i = 0; i < 2; i++) {
        char *slash = strrchr(lib, '/');
        if (slash == NULL) {
            return NULL;
        }
        *slash = '\0';
    }
    char program[4200];
    snprintf(program, sizeof program, "%s/bin/python%d.%d", lib, PY_MAJOR_VERSION,
             PY_MINOR_VERSION);
    return strdup(program);
}

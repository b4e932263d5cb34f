/* bridge_internal.h: state shared by the C files of pybridge (not by Go). */
#ifndef GOWSGI_BRIDGE_INTERNAL_H
#define GOWSGI_BRIDGE_INTERNAL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "bridge.h"

#include <time.h>

/* Interpreter-wide objects, made once by gw_init (all strong references). */
typedef struct {
    PyObject *module;           /* _gowsgi                                  */
    PyObject *app;              /* the WSGI callable                         */
    PyObject *base_environ;     /* constant environ entries, copied per request */
    PyObject *format_exception; /* support.format_exception                  */
    PyObject *app_load_error;   /* support.AppLoadError                      */
    PyObject *stream_input;     /* support.stream_input                      */
    PyObject *file_wrapper;     /* support.FileWrapper (a class)             */
    PyObject *bytes_io;         /* io.BytesIO                                */
    PyObject *str_close, *str_sendfile_position, *key_wsgi_input;
    PyObject *empty_input;      /* support.empty_input: wsgi.input of bodiless requests */
    PyObject *request_timeout;  /* support.RequestTimeout, raised by gw_interrupt */
    PyObject **known_keys; /* interned environ keys, indexed as in Go */
    /* The last value str made for each known key: most values repeat from
     * request to request (method, protocol, host, user agent, ...), and a
     * str is immutable, so equal bytes reuse it instead of decoding. */
    PyObject **value_cache;
    int known_count;
    int key_request_method, key_raw_uri; /* indexes of these known keys */
    PyThreadState *init_tstate;
} gw_globals;

extern gw_globals gw;

/* Room in every request's environ dict: the constant entries, the CGI
 * variables, a dozen headers and what frameworks add (see interp.c). */
#define GW_ENVIRON_PRESIZE 40

typedef struct gw_start_response gw_start_response;

/* One Python thread: its thread state and the request it is serving. */
struct gw_thread {
    uintptr_t go_handle; /* cgo.Handle of the Go-side thread, for callbacks */
    PyThreadState *tstate;
    PyGILState_STATE gilstate;
    unsigned long ident; /* PyThread_get_thread_ident() of the OS thread */
    uint64_t seq;        /* the request being served, numbered by Go */
    int in_request;      /* Python is still busy with request seq */
    int interrupted;     /* an async RequestTimeout was set for this thread */
    uint64_t input_id;   /* the streamed wsgi.input of this request; 0: none */

    /* The request in flight (all strong references or NULL). */
    gw_start_response *start_response;
    gw_start_response *spare_start_response; /* reused when nobody else holds it */
    PyObject *result; /* what the app returned; close() is called on it */
    PyObject *iter;   /* iter(result) while streaming                   */
    PyObject *keep;   /* keeps the memory of the last result's iov alive */
    int headers_sent;
    int closed;

    /* Buffers reused across requests. */
    char *headers;
    size_t headers_len, headers_cap;
    int header_count;
    struct iovec *iov;
    int iov_cap;
    char *error; /* malloc'd, freed at the next call */
    gw_result out; /* Go reads the results of request calls here */

    /* GIL clocks of the request in flight (gw_timing on), in ns. */
    int64_t gil_wait_ns, python_ns, held_since;
};

struct gw_start_response {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    gw_thread *thread; /* NULL once the request is over */
    PyObject *status;  /* str, set by the first call   */
    PyObject *headers; /* list of (str, str)           */
    /* The write() callable start_response returns, made on first use and
     * kept while this object is reused for the thread's next requests.
     * It reaches this object through a capsule, which sr_dealloc points
     * at gw_write_orphan: a write() kept past its request raises instead
     * of writing into a later one. */
    PyObject *write;
};

/* gw_start_response_done ends sr's request: it is reused for the thread's
 * next request (returned, the caller's reference kept) when nobody else
 * holds it or its write(), else released (NULL returned). */
gw_start_response *gw_start_response_done(gw_start_response *sr);

extern PyModuleDef gw_module_def;
extern PyTypeObject gw_start_response_type;

/* The thread serving a request on this OS thread (threads are locked). */
extern __thread gw_thread *gw_current;

/* gw_new_write returns a new reference to a write() callable for sr. */
PyObject *gw_new_write(gw_start_response *sr);
/* gw_new_start_response returns a new reference to a fresh start_response
 * bound to t. */
gw_start_response *gw_new_start_response(gw_thread *t);

/* gw_lookup_attr: 1 and a new reference in *out when obj has the
 * attribute, 0 (no exception) when it has not, -1 on error. Unlike
 * PyObject_GetAttr it makes no AttributeError for a missing one, which
 * costs a formatted message per request for a list body's close(). */
static inline int gw_lookup_attr(PyObject *obj, PyObject *name, PyObject **out) {
#if PY_VERSION_HEX >= 0x030D0000
    return PyObject_GetOptionalAttr(obj, name, out);
#else
    return _PyObject_LookupAttr(obj, name, out);
#endif
}

/* crash.c: the request in flight on this OS thread, for a crash report. */
#define GW_CRASH_NOTE_MAX 240
extern __thread char gw_crash_note[GW_CRASH_NOTE_MAX];
extern __thread unsigned gw_crash_note_len;
extern __thread int gw_in_python; /* this thread is inside a request call */
/* gw_enter_go and gw_leave_go bracket a callback into Go (write,
 * read_body, log) made from the app's Python code: a fault there is Go's
 * (a nil dereference becomes a panic the callback recovers), not a crash
 * of the app for our handler to report. gw_enter_go returns the flag to
 * give back to gw_leave_go. */
static inline int gw_enter_go(void) {
    int was = gw_in_python;
    gw_in_python = 0;
    return was;
}
static inline void gw_leave_go(int was) { gw_in_python = was; }
/* gw_crash_note_set sets the note to p[:n] (or appends " " p[:n]). */
void gw_crash_note_set(const char *p, size_t n, int append);
/* gw_crash_install enables faulthandler and our handler on top of it;
 * -1 with an exception set on failure. Call with the GIL, once. */
int gw_crash_install(void);
/* gw_timing: measure GIL waits and hold times (gw_set_timing). */
extern int gw_timing;

static inline int64_t gw_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* gw_acquire_gil takes the GIL with thread state ts for t (which may be
 * NULL), adding the wait to t's request clocks. */
static inline void gw_acquire_gil(gw_thread *t, PyThreadState *ts) {
    if (!gw_timing || t == NULL) {
        PyEval_RestoreThread(ts);
        return;
    }
    int64_t asked = gw_now_ns();
    PyEval_RestoreThread(ts);
    int64_t got = gw_now_ns();
    t->gil_wait_ns += got - asked;
    t->held_since = got;
}

/* gw_release_gil gives the GIL up, adding the time held to t's clocks;
 * it returns the thread state for gw_acquire_gil. */
static inline PyThreadState *gw_release_gil(gw_thread *t) {
    if (gw_timing && t != NULL) {
        t->python_ns += gw_now_ns() - t->held_since;
    }
    return PyEval_SaveThread();
}

char *gw_take_error(void);
/* Returns a new reference to the pending exception (cleared), or NULL. */
PyObject *gw_fetch_exception(void);
/* Returns a new reference to the formatted traceback str, or NULL. */
PyObject *gw_format_exception(PyObject *exc);
/* gw_check_header: -1 with TypeError set unless header item i is a
 * (str, str) tuple. */
int gw_check_header(PyObject *item, Py_ssize_t i);
/* Packs status and headers into t->headers; -1 with an exception set when
 * start_response was not called or a value is not latin-1. */
int gw_pack_headers(gw_thread *t);

#endif

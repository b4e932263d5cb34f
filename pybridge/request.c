/* request.c: one WSGI request on one Python thread: build the environ, call
 * the app, and turn what it returns into gw_results for Go to write.
 *
 * Crossings per request (each is one Go->C call that takes the GIL once):
 *   list/tuple body:          gw_request_start                       = 1
 *   other iterable, N chunks: gw_request_start (app + first chunk)
 *                             + N x gw_request_next (last one: close) = N+1
 *   file_wrapper with an fd:  gw_request_start + gw_request_close    = 2
 */
#include <stdlib.h>
#include <string.h>

#include "bridge_internal.h"

/* ---- small buffers ----------------------------------------------------- */

static int gw_reserve_headers(gw_thread *t, size_t more) {
    size_t need = t->headers_len + more;
    if (need <= t->headers_cap) {
        return 0;
    }
    size_t cap = t->headers_cap ? t->headers_cap : 1024;
    while (cap < need) {
        cap *= 2;
    }
    char *p = realloc(t->headers, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->headers = p;
    t->headers_cap = cap;
    return 0;
}

/* gw_append_field appends one u32-length-prefixed field to t->headers. */
static int gw_append_field(gw_thread *t, const char *p, size_t n) {
    if (n > UINT32_MAX || gw_reserve_headers(t, 4 + n) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "response header too large");
        }
        return -1;
    }
    uint32_t len = (uint32_t)n;
    memcpy(t->headers + t->headers_len, &len, 4);
    memcpy(t->headers + t->headers_len + 4, p, n);
    t->headers_len += 4 + n;
    return 0;
}

static int gw_reserve_iov(gw_thread *t, Py_ssize_t n) {
    if (n <= t->iov_cap) {
        return 0;
    }
    struct iovec *iov = realloc(t->iov, (size_t)n * sizeof *iov);
    if (iov == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->iov = iov;
    t->iov_cap = (int)n;
    return 0;
}

/* gw_latin1 returns the bytes of a str whose code points all fit latin-1,
 * straight from the object's storage (no copy): a 1-byte-kind str is stored
 * as latin-1. */
static const char *gw_latin1(PyObject *s, Py_ssize_t *n) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0) {
        return NULL;
    }
#endif
    if (PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
        PyErr_Format(PyExc_ValueError,
                     "response status/header %R has characters outside latin-1", s);
        return NULL;
    }
    *n = PyUnicode_GET_LENGTH(s);
    return (const char *)PyUnicode_1BYTE_DATA(s);
}

int gw_pack_headers(gw_thread *t) {
    gw_start_response *sr = t->start_response;
    if (sr == NULL || sr->status == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the app returned a body without calling start_response");
        return -1;
    }
    t->headers_len = 0;
    t->header_count = 0;
    Py_ssize_t n;
    const char *p = gw_latin1(sr->status, &n);
    if (p == NULL || gw_append_field(t, p, (size_t)n) < 0) {
        return -1;
    }
    /* The list is the app's own (wsgiref's Headers, for one, wraps it), so
     * it may have changed since start_response checked it: check each item
     * again. The pair is held because a str subclass's __repr__, run by an
     * error message, could drop it from the list. */
    Py_ssize_t count = PyList_GET_SIZE(sr->headers);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *pair = PyList_GET_ITEM(sr->headers, i);
        if (gw_check_header(pair, i) < 0) {
            return -1;
        }
        Py_INCREF(pair);
        for (int j = 0; j < 2; j++) {
            p = gw_latin1(PyTuple_GET_ITEM(pair, j), &n);
            if (p == NULL || gw_append_field(t, p, (size_t)n) < 0) {
                Py_DECREF(pair);
                return -1;
            }
        }
        Py_DECREF(pair);
    }
    t->header_count = (int)count;
    return 0;
}

/* ---- request state ----------------------------------------------------- */

/* gw_record_exception appends the pending exception's traceback to t->error
 * and clears it. */
static void gw_record_exception(gw_thread *t) {
    PyObject *exc = gw_fetch_exception();
    if (exc == NULL) {
        return;
    }
    const char *text = "(the traceback could not be formatted)";
    Py_ssize_t n = (Py_ssize_t)strlen(text);
    PyObject *formatted = gw_format_exception(exc);
    if (formatted != NULL) {
        const char *p = PyUnicode_AsUTF8AndSize(formatted, &n);
        if (p != NULL) {
            text = p;
        } else {
            n = (Py_ssize_t)strlen(text);
        }
    }
    PyErr_Clear();
    size_t old = t->error ? strlen(t->error) : 0;
    char *joined = realloc(t->error, old + (size_t)n + 1);
    if (joined != NULL) {
        memcpy(joined + old, text, (size_t)n);
        joined[old + (size_t)n] = '\0';
        t->error = joined;
    }
    Py_XDECREF(formatted);
    Py_DECREF(exc);
}

/* gw_close_and_drop calls close() on the app's iterable, once, and drops
 * every reference of the request except t->keep (the body being written). */
/* gw_clear_interrupt drops a RequestTimeout that was set but has not
 * fired (the request ended first), so it cannot hit the next request. */
static void gw_clear_interrupt(gw_thread *t) {
    if (t->interrupted) {
        PyThreadState_SetAsyncExc(t->ident, NULL);
        t->interrupted = 0;
    }
}

static void gw_close_and_drop(gw_thread *t) {
    t->in_request = 0;
    gw_clear_interrupt(t);
    if (t->result != NULL && !t->closed) {
        t->closed = 1;
        PyObject *close = NULL;
        int found = gw_lookup_attr(t->result, gw.str_close, &close);
        if (found < 0) {
            gw_record_exception(t);
        } else if (found > 0) {
            PyObject *r = PyObject_CallNoArgs(close);
            Py_DECREF(close);
            if (r == NULL) {
                gw_record_exception(t);
            }
            Py_XDECREF(r);
        }
    }
    Py_CLEAR(t->iter);
    Py_CLEAR(t->result);
    gw_start_response *sr = t->start_response;
    if (sr != NULL) {
        t->start_response = NULL;
        sr = gw_start_response_done(sr);
        if (sr != NULL && t->spare_start_response == NULL) {
            t->spare_start_response = sr; /* the next request reuses it */
        } else {
            Py_XDECREF(sr);
        }
    }
    gw_crash_note_len = 0;
}

/* gw_fail reports the pending exception as the request's outcome. */
static void gw_fail(gw_thread *t, gw_result *out) {
    gw_record_exception(t);
    out->kind = GW_ERROR;
    out->headers_sent = t->headers_sent;
    gw_close_and_drop(t);
}

/* gw_begin starts a call: forget the previous result's memory and text. */
static void gw_begin(gw_thread *t, gw_result *out) {
    gw_in_python = 1;
    memset(out, 0, sizeof *out);
    Py_CLEAR(t->keep);
    free(t->error);
    t->error = NULL;
}

/* gw_end finishes a call: hand the error text (if any) to Go. */
static void gw_end(gw_thread *t, gw_result *out) {
    if (t->error != NULL) {
        out->error = t->error;
        out->error_len = strlen(t->error);
    }
    gw_in_python = 0;
}

/* gw_headers_out packs the headers into out if they have not gone yet. */
static int gw_headers_out(gw_thread *t, gw_result *out) {
    if (t->headers_sent) {
        return 0;
    }
    if (gw_pack_headers(t) < 0) {
        return -1;
    }
    out->headers = t->headers;
    out->headers_len = t->headers_len;
    out->header_count = t->header_count;
    t->headers_sent = 1;
    return 0;
}

/* ---- environ ----------------------------------------------------------- */

/* Values longer than this are not cached (paths, cookies, URIs rarely
 * repeat; short header values do). */
#define GW_VALUE_CACHE_MAX 256

/* gw_cached_value returns a new reference to the cached str for known key
 * index when it holds exactly these latin-1 bytes, else NULL. */
static PyObject *gw_cached_value(uint16_t index, const char *p, uint32_t n) {
    PyObject *cached = gw.value_cache[index];
    if (cached != NULL && PyUnicode_GET_LENGTH(cached) == (Py_ssize_t)n &&
        PyUnicode_KIND(cached) == PyUnicode_1BYTE_KIND &&
        memcmp(PyUnicode_1BYTE_DATA(cached), p, n) == 0) {
        return Py_NewRef(cached);
    }
    return NULL;
}

/* gw_build_environ returns a new reference to the environ dict built from
 * Go's packed buffer: entries of [u16 key index | 0xFFFF, u32 len, key]
 * [u32 len, value], every value decoded as latin-1. */
static PyObject *gw_build_environ(const char *p, size_t len) {
    PyObject *env = PyDict_Copy(gw.base_environ);
    if (env == NULL) {
        return NULL;
    }
    const char *end = p + len;
    while (p < end) {
        uint16_t index;
        uint32_t n;
        PyObject *key;
        if (end - p < 2) {
            goto malformed;
        }
        memcpy(&index, p, 2);
        p += 2;
        if (index == 0xFFFF) {
            if (end - p < 4) {
                goto malformed;
            }
            memcpy(&n, p, 4);
            p += 4;
            if ((size_t)(end - p) < n) {
                goto malformed;
            }
            key = PyUnicode_DecodeLatin1(p, n, NULL);
            p += n;
            if (key == NULL) {
                goto fail;
            }
        } else if (index < gw.known_count) {
            key = Py_NewRef(gw.known_keys[index]);
        } else {
            goto malformed;
        }
        if (end - p < 4) {
            Py_DECREF(key);
            goto malformed;
        }
        memcpy(&n, p, 4);
        p += 4;
        if ((size_t)(end - p) < n) {
            Py_DECREF(key);
            goto malformed;
        }
        if (index == gw.key_request_method || index == gw.key_raw_uri) {
            gw_crash_note_set(p, n, index == gw.key_raw_uri);
        }
        PyObject *value = index == 0xFFFF ? NULL : gw_cached_value(index, p, n);
        if (value == NULL) {
            value = PyUnicode_DecodeLatin1(p, n, NULL);
            if (value == NULL) {
                Py_DECREF(key);
                goto fail;
            }
            if (index != 0xFFFF && n <= GW_VALUE_CACHE_MAX) {
                Py_XSETREF(gw.value_cache[index], Py_NewRef(value));
            }
        }
        p += n;
        int rc = PyDict_SetItem(env, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0) {
            goto fail;
        }
    }
    return env;
malformed:
    PyErr_SetString(PyExc_RuntimeError, "gowsgi: malformed packed environ (a bug)");
fail:
    Py_DECREF(env);
    return NULL;
}

/* gw_next_input_id numbers streamed wsgi.input objects across all threads
 * (under the GIL). */
static uint64_t gw_next_input_id;

/* gw_make_input returns a new reference to the request's wsgi.input. */
static PyObject *gw_make_input(gw_thread *t, const char *body, size_t body_len,
                               int body_mode) {
    t->input_id = 0;
    if (body_mode == GW_BODY_STREAM) {
        t->input_id = ++gw_next_input_id;
        PyObject *id = PyLong_FromUnsignedLongLong(t->input_id);
        if (id == NULL) {
            return NULL;
        }
        PyObject *input = PyObject_CallOneArg(gw.stream_input, id);
        Py_DECREF(id);
        return input;
    }
    if (body_len == 0) {
        /* Stateless, so one object serves every bodiless request. */
        return Py_NewRef(gw.empty_input);
    }
    PyObject *bytes = PyBytes_FromStringAndSize(body, (Py_ssize_t)body_len);
    if (bytes == NULL) {
        return NULL;
    }
    PyObject *input = PyObject_CallOneArg(gw.bytes_io, bytes);
    Py_DECREF(bytes);
    return input;
}

/* ---- the response ------------------------------------------------------ */

static void gw_not_bytes(PyObject *item) {
    PyErr_Format(PyExc_TypeError,
                 "the app's response iterable yielded %.100s, not bytes",
                 Py_TYPE(item)->tp_name);
}

/* gw_full handles a list or tuple: the whole body in one result. */
static void gw_full(gw_thread *t, gw_result *out) {
    PyObject *seq = t->result;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (gw_reserve_iov(t, n) < 0) {
        gw_fail(t, out);
        return;
    }
    int count = 0;
    size_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyBytes_Check(item)) {
            gw_not_bytes(item);
            gw_fail(t, out);
            return;
        }
        if (PyBytes_GET_SIZE(item) > 0) {
            t->iov[count].iov_base = PyBytes_AS_STRING(item);
            t->iov[count].iov_len = (size_t)PyBytes_GET_SIZE(item);
            total += t->iov[count].iov_len;
            count++;
        }
    }
    if (gw_headers_out(t, out) < 0) {
        gw_fail(t, out);
        return;
    }
    /* An exact list or tuple has no close(), so it keeps the bytes alive
     * until Go has written them, with the GIL released. A list someone
     * else holds too (the app's own, kept between requests) could be
     * changed by another thread meanwhile, and so could any list whose
     * body may be parked (written long after, while other requests run):
     * a tuple of the same bytes objects keeps them instead. The usual
     * fresh list is held by t->result alone and costs nothing. */
    if (PyList_CheckExact(seq) && (total >= GW_PARK_BODY_BYTES || Py_REFCNT(seq) > 1)) {
        t->keep = PyList_AsTuple(seq); /* new reference */
        if (t->keep == NULL) {
            gw_fail(t, out);
            return;
        }
    } else {
        t->keep = Py_NewRef(seq);
    }
    t->closed = 1;
    out->kind = GW_FULL;
    out->iov = t->iov;
    out->iov_count = count;
    gw_close_and_drop(t);
}

/* gw_next_chunk advances the iterator to its next non-empty chunk. */
static void gw_next_chunk(gw_thread *t, gw_result *out) {
    for (;;) {
        PyObject *item = PyIter_Next(t->iter);
        if (item == NULL) {
            if (PyErr_Occurred() || gw_headers_out(t, out) < 0) {
                gw_fail(t, out);
                return;
            }
            out->kind = GW_END;
            gw_close_and_drop(t);
            return;
        }
        if (!PyBytes_Check(item)) {
            gw_not_bytes(item);
            Py_DECREF(item);
            gw_fail(t, out);
            return;
        }
        if (PyBytes_GET_SIZE(item) == 0) {
            /* PEP 3333: headers wait for the first non-empty chunk. */
            Py_DECREF(item);
            continue;
        }
        if (gw_headers_out(t, out) < 0 || gw_reserve_iov(t, 1) < 0) {
            Py_DECREF(item);
            gw_fail(t, out);
            return;
        }
        t->keep = item;
        t->iov[0].iov_base = PyBytes_AS_STRING(item);
        t->iov[0].iov_len = (size_t)PyBytes_GET_SIZE(item);
        out->kind = GW_CHUNK;
        out->iov = t->iov;
        out->iov_count = 1;
        return;
    }
}

/* gw_try_file answers a wsgi.file_wrapper over a real descriptor with
 * GW_FILE; returns 0 (nothing done) when the file has no usable fd. */
static int gw_try_file(gw_thread *t, gw_result *out) {
    PyObject *pos = PyObject_CallMethodNoArgs(t->result, gw.str_sendfile_position);
    if (pos == NULL) {
        /* sendfile_position answers None for every file it cannot send;
         * an exception here is a RequestTimeout or a bug to report. */
        gw_fail(t, out);
        return 1;
    }
    int fd;
    long long offset;
    int ok = pos != Py_None && PyArg_ParseTuple(pos, "iL", &fd, &offset);
    Py_DECREF(pos);
    if (!ok) {
        PyErr_Clear();
        return 0;
    }
    if (gw_headers_out(t, out) < 0) {
        gw_fail(t, out);
        return 1;
    }
    out->kind = GW_FILE;
    out->file_fd = fd;
    out->file_offset = offset;
    return 1;
}

/* ---- entry points ------------------------------------------------------ */

int gw_timing;

void gw_set_timing(int on) { gw_timing = on; }

/* gw_release_request_gil ends a request call: the GIL goes back and the
 * request's clock totals so far go to Go in out. */
static void gw_release_request_gil(gw_thread *t, gw_result *out) {
    t->tstate = gw_release_gil(t);
    out->gil_wait_ns = t->gil_wait_ns;
    out->python_ns = t->python_ns;
}

void gw_request_start(gw_thread *t, uint64_t seq, const char *env, size_t env_len,
                      const char *body, size_t body_len, int body_mode,
                      gw_result *out) {
    t->gil_wait_ns = 0;
    t->python_ns = 0;
    gw_acquire_gil(t, t->tstate);
    gw_begin(t, out);
    t->headers_sent = 0;
    t->closed = 0;
    t->seq = seq;
    t->in_request = 1;

    PyObject *environ = gw_build_environ(env, env_len);
    if (environ == NULL) {
        gw_fail(t, out);
        goto done;
    }
    PyObject *input = gw_make_input(t, body, body_len, body_mode);
    if (input == NULL || PyDict_SetItem(environ, gw.key_wsgi_input, input) < 0) {
        Py_XDECREF(input);
        Py_DECREF(environ);
        gw_fail(t, out);
        goto done;
    }
    Py_DECREF(input);

    gw_start_response *sr = t->spare_start_response;
    if (sr != NULL) {
        t->spare_start_response = NULL;
        sr->thread = t;
    } else if ((sr = gw_new_start_response(t)) == NULL) {
        Py_DECREF(environ);
        gw_fail(t, out);
        goto done;
    }
    t->start_response = sr;

    PyObject *args[2] = {environ, (PyObject *)sr};
    t->result = PyObject_Vectorcall(gw.app, args, 2, NULL);
    Py_DECREF(environ);
    if (t->result == NULL) {
        gw_fail(t, out);
        goto done;
    }
    if (PyList_CheckExact(t->result) || PyTuple_CheckExact(t->result)) {
        gw_full(t, out);
        goto done;
    }
    if (PyObject_TypeCheck(t->result, (PyTypeObject *)gw.file_wrapper) &&
        gw_try_file(t, out)) {
        goto done;
    }
    t->iter = PyObject_GetIter(t->result);
    if (t->iter == NULL) {
        gw_fail(t, out);
        goto done;
    }
    gw_next_chunk(t, out);
done:
    gw_end(t, out);
    gw_release_request_gil(t, out);
}

void gw_request_next(gw_thread *t, gw_result *out) {
    gw_acquire_gil(t, t->tstate);
    gw_begin(t, out);
    if (t->iter == NULL) {
        out->kind = GW_END;
        gw_close_and_drop(t);
    } else {
        gw_next_chunk(t, out);
    }
    gw_end(t, out);
    gw_release_request_gil(t, out);
}

void gw_request_close(gw_thread *t, gw_result *out) {
    gw_acquire_gil(t, t->tstate);
    gw_begin(t, out);
    out->kind = GW_END;
    gw_close_and_drop(t);
    gw_end(t, out);
    gw_release_request_gil(t, out);
}

struct gw_parked {
    PyObject *result;   /* strong reference: the app's iterable, or the body */
    int closed;         /* a body: close() was called already (or has none) */
    struct iovec *iov;  /* a body's bytes, inside result; malloc'd */
    int iov_count;
};

gw_parked *gw_request_park_body(gw_thread *t, const gw_result *out) {
    gw_parked *p = calloc(1, sizeof *p);
    struct iovec *iov = malloc(sizeof *iov * (size_t)(out->iov_count ? out->iov_count : 1));
    if (p == NULL || iov == NULL) {
        free(p);
        free(iov);
        return NULL;
    }
    memcpy(iov, out->iov, sizeof *iov * (size_t)out->iov_count);
    p->iov = iov;
    p->iov_count = out->iov_count;
    p->result = t->keep; /* the reference moves: no refcount change, no GIL */
    t->keep = NULL;
    p->closed = 1;
    return p;
}

const struct iovec *gw_parked_iov(const gw_parked *p, int *count) {
    *count = p->iov_count;
    return p->iov;
}

gw_parked *gw_request_park(gw_thread *t, gw_result *out) {
    gw_parked *p = calloc(1, sizeof *p);
    gw_acquire_gil(t, t->tstate);
    gw_begin(t, out);
    out->kind = GW_END;
    if (p != NULL) {
        p->result = t->result; /* the reference moves to p */
        t->result = NULL;
    }
    gw_close_and_drop(t); /* closes the iterable itself only if p is NULL */
    gw_end(t, out);
    gw_release_request_gil(t, out);
    return p;
}

void gw_parked_close(gw_thread *t, gw_parked *p, gw_result *out) {
    gw_acquire_gil(t, t->tstate);
    gw_begin(t, out);
    out->kind = GW_END;
    t->result = p->result; /* back on a thread, to close as usual */
    t->closed = p->closed;
    p->result = NULL;
    gw_close_and_drop(t);
    gw_end(t, out);
    gw_release_request_gil(t, out);
    free(p->iov);
    free(p);
}

/* ---- threads ----------------------------------------------------------- */

gw_thread *gw_thread_new(uintptr_t go_handle) {
    gw_thread *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    t->go_handle = go_handle;
    /* PyGILState_Ensure makes the thread state that belongs to this OS
     * thread, so C extensions calling PyGILState_Ensure here find it
     * instead of making a second one. It stays for the thread's life. */
    t->gilstate = PyGILState_Ensure();
    t->ident = PyThread_get_thread_ident();
    gw_current = t;
    t->tstate = PyEval_SaveThread();
    return t;
}

gw_thread *gw_thread_current(uintptr_t *go_handle) {
    gw_thread *t = gw_current;
    *go_handle = t ? t->go_handle : 0;
    return t;
}

gw_result *gw_thread_result(gw_thread *t) { return &t->out; }

int gw_interrupt(gw_thread *t, uint64_t seq) {
    PyGILState_STATE st = PyGILState_Ensure();
    int done = 0;
    if (t->in_request && t->seq == seq) {
        done = PyThreadState_SetAsyncExc(t->ident, gw.request_timeout) == 1;
        t->interrupted = done;
    }
    PyGILState_Release(st);
    return done;
}

void gw_thread_free(gw_thread *t) {
    PyEval_RestoreThread(t->tstate);
    gw_close_and_drop(t);
    Py_CLEAR(t->keep);
    Py_CLEAR(t->spare_start_response);
    gw_current = NULL;
    PyGILState_Release(t->gilstate);
    free(t->headers);
    free(t->iov);
    free(t->error);
    free(t);
}

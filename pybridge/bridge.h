/* bridge.h: the C half of pybridge, the only code in gowsgi that touches the
 * CPython C API. Go calls the gw_* functions below; C calls back into Go only
 * through the functions exported in callbacks.go (declared in _cgo_export.h).
 *
 * Ownership rules, so a reader can check every path:
 *  - Go never holds a PyObject*. Every Python reference lives in a C struct
 *    (gw_thread) and is released by C.
 *  - Functions that return a new Python reference say "Returns a new
 *    reference" in their comment; everything else returns borrowed ones or
 *    none.
 *  - Every gw_* function that touches Python takes the GIL itself (through the
 *    thread's saved PyThreadState) and gives it back before returning, so Go
 *    code never runs with the GIL held.
 */
#ifndef GOWSGI_BRIDGE_H
#define GOWSGI_BRIDGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Result kinds of gw_request_start / gw_request_next. */
enum {
    GW_FULL = 1,  /* whole body in iov[]; the iterable is already closed      */
    GW_CHUNK = 2, /* one body chunk in iov[0]; call gw_request_next for more  */
    GW_END = 3,   /* iteration finished; the iterable is already closed       */
    GW_FILE = 4,  /* wsgi.file_wrapper over a real fd: Go sends file_fd from
                     file_offset; then call gw_request_close                  */
    GW_ERROR = 5, /* the app failed; error holds the traceback text. The
                     iterable (if any) is already closed.                     */
};

/* Where the request body comes from: pre-read memory or a Go stream. */
enum { GW_BODY_MEMORY = 0, GW_BODY_STREAM = 1 };

/* gw_result is filled by every request call. Pointers stay valid until the
 * next gw_request_* call on the same thread (C keeps the objects alive). */
typedef struct {
    int kind;
    /* headers: packed status and headers, present (non-NULL) exactly once per
     * request, on the first result that carries body bytes or ends the
     * response. Format: u32 len + bytes, repeated: status, name, value, ... */
    const char *headers;
    size_t headers_len;
    int header_count;
    struct iovec *iov;
    int iov_count;
    int file_fd;
    int64_t file_offset;
    /* error text (UTF-8), set with GW_ERROR and also for warnings logged by C */
    const char *error;
    size_t error_len;
    /* headers_sent tells Go, on GW_ERROR, whether headers went out already */
    int headers_sent;
    /* With gw_set_timing(1): the request's totals so far, across all its
     * calls and the callbacks it made, in nanoseconds. gil_wait_ns is the
     * time this thread waited to take the GIL; python_ns the time it held
     * it. They ride in the result Go reads anyway: no extra cgo call. */
    int64_t gil_wait_ns;
    int64_t python_ns;
} gw_result;

typedef struct gw_thread gw_thread;

/* Interpreter lifecycle (call on the one init thread). Each returns 0 on
 * success; on failure *err is a malloc'd UTF-8 message the caller frees. */
int gw_init(const char *program, const char *support_src,
            const char **known_keys, int known_count, int multithread,
            int multiprocess, char **err);
/* gw_support_call runs _gowsgi.<func>(arg) and returns its str result as a
 * malloc'd UTF-8 string in *out (caller frees). */
int gw_support_call(const char *func, const char *arg, char **out, char **err);
/* gw_load_app sets the app to _gowsgi.<loader>(spec): load_app, or
 * check_load_app for `gowsgi check`. */
int gw_load_app(const char *loader, const char *spec, char **err);
void gw_release_init_thread(void);
/* gw_reacquire_init_thread takes the GIL back after gw_release_init_thread. */
void gw_reacquire_init_thread(void);
int gw_finalize(void);
char *gw_default_program(void);
const char *gw_python_version(void);

/* gw_set_timing turns the per-request GIL clocks on (1) or off (0): two
 * clock_gettime(CLOCK_MONOTONIC) reads per GIL acquisition. Call once,
 * before requests run (the metrics need them; nothing else does). */
void gw_set_timing(int on);

/* Python threads: one gw_thread per OS thread, made on that thread. */
gw_thread *gw_thread_new(uintptr_t go_handle);
/* gw_thread_current returns this OS thread's gw_thread, or NULL; its Go
 * handle is stored in *go_handle. No Python call: no GIL needed. */
gw_thread *gw_thread_current(uintptr_t *go_handle);
/* gw_thread_result is where the request calls of t write their result. */
gw_result *gw_thread_result(gw_thread *t);
void gw_thread_free(gw_thread *t);
/* gw_thread_support_call is gw_support_call on t's thread state, taking
 * and giving back the GIL itself (t is idle: between requests). */
int gw_thread_support_call(gw_thread *t, const char *func, const char *arg, char **out,
                           char **err);

/* One request. env is the packed environ (see environ_pack.go); body is the
 * pre-read body for GW_BODY_MEMORY. */
void gw_request_start(gw_thread *t, uint64_t seq, const char *env, size_t env_len,
                      const char *body, size_t body_len, int body_mode,
                      gw_result *out);
/* gw_interrupt raises _gowsgi.RequestTimeout in t's Python code if t is
 * still running request seq; returns 1 if it did. Any thread may call it:
 * it takes the GIL itself. The exception fires at the next bytecode, so
 * code blocked inside C (time.sleep, a socket read) is not interrupted. */
int gw_interrupt(gw_thread *t, uint64_t seq);
void gw_request_next(gw_thread *t, gw_result *out);
/* gw_request_close calls the iterable's close() if not yet called and drops
 * every reference the request holds. Always safe to call. */
void gw_request_close(gw_thread *t, gw_result *out);

/* A response parked while Go sends the rest of it with no Python thread
 * held: a file_wrapper's iterable, still open, or a large list body with
 * the objects that keep its bytes alive. Go holds the pointer, never the
 * Python objects inside. */
typedef struct gw_parked gw_parked;
/* gw_request_park ends the Python part of t's request after GW_FILE,
 * keeping its iterable open, so t can serve other requests while Go
 * sends the file. Returns a new gw_parked owning the iterable's
 * reference, or NULL (out of memory: the iterable was closed as
 * gw_request_close does, and out says how that went). */
gw_parked *gw_request_park(gw_thread *t, gw_result *out);
/* A list body of at least this many bytes may be parked (Go decides):
 * its bytes are then kept alive by a tuple, not by the app's list, which
 * the app could change while Go writes. */
#define GW_PARK_BODY_BYTES (128 * 1024)

/* gw_request_park_body parks the body of t's last GW_FULL result: the
 * returned gw_parked owns what keeps the bytes alive and a copy of the
 * iovecs (gw_parked_iov), so Go may write them after t has moved on.
 * No Python call (no GIL needed). NULL when out of memory: the body then
 * stays valid only until t's next call, as usual. */
gw_parked *gw_request_park_body(gw_thread *t, const gw_result *out);
/* gw_parked_iov gives the parked body's iovecs (none for a file). */
const struct iovec *gw_parked_iov(const gw_parked *p, int *count);
/* gw_parked_close calls close() on p's iterable on thread t (idle,
 * between requests), drops it and frees p; out->error holds what close()
 * raised. */
void gw_parked_close(gw_thread *t, gw_parked *p, gw_result *out);

#endif

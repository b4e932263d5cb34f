/* crash.c: a last word when the app crashes the process.
 *
 * A C extension that dereferences a bad pointer (or calls abort()) takes
 * the whole process down, and Go's crash report shows only Go and C
 * frames. Before that happens we want one line naming the request in
 * flight and the Python traceback of the thread that crashed. So:
 *
 *   - each request call notes "METHOD RAW_URI" in a thread-local buffer
 *     (gw_crash_note, filled while the environ is built) and marks the
 *     thread as running Python (gw_in_python);
 *   - faulthandler is enabled on top of Go's handlers, and our handler on
 *     top of faulthandler's, for the fatal signals;
 *   - our handler writes the line with write(2) (async-signal-safe), then
 *     puts back the next handler and returns: the faulting instruction runs
 *     again and faults into faulthandler (Python traceback), which puts
 *     back Go's handler and returns, and Go then ends the process with its
 *     own report and exit status as before.
 *
 * A fault outside Python (a Go bug; Go may turn it into a recoverable
 * panic) skips both ours and faulthandler: Go's handler is restored and
 * the signal reaches it as if we were not there. Our handler is then gone
 * for the rest of the process's life, which is acceptable after a Go bug. */
#include "bridge_internal.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

__thread char gw_crash_note[GW_CRASH_NOTE_MAX];
__thread unsigned gw_crash_note_len;
__thread int gw_in_python;

static const int gw_fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define GW_FATAL_COUNT ((int)(sizeof gw_fatal_signals / sizeof gw_fatal_signals[0]))
static struct sigaction gw_go_actions[GW_FATAL_COUNT];      /* Go's own */
static struct sigaction gw_python_actions[GW_FATAL_COUNT];  /* faulthandler's */

static const char *gw_signal_name(int sig) {
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    }
    return "a fatal signal";
}

/* gw_append copies s into buf at *n without overflowing (signal-safe). */
static void gw_append(char *buf, size_t cap, size_t *n, const char *s, size_t len) {
    if (len > cap - *n) {
        len = cap - *n;
    }
    memcpy(buf + *n, s, len);
    *n += len;
}

static void gw_append_str(char *buf, size_t cap, size_t *n, const char *s) {
    gw_append(buf, cap, n, s, strlen(s));
}

static void gw_append_uint(char *buf, size_t cap, size_t *n, unsigned long v) {
    char digits[24];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && i > 0);
    gw_append(buf, cap, n, digits + i, sizeof digits - i);
}

static void gw_crash_handler(int sig, siginfo_t *info, void *context) {
    (void)info;
    (void)context;
    int slot = 0;
    while (slot < GW_FATAL_COUNT && gw_fatal_signals[slot] != sig) {
        slot++;
    }
    if (slot == GW_FATAL_COUNT) {
        return; /* not ours: cannot happen */
    }
    if (!gw_in_python) {
        sigaction(sig, &gw_go_actions[slot], NULL);
        if (sig == SIGABRT) {
            raise(sig);
        }
        return;
    }
    char line[GW_CRASH_NOTE_MAX + 160];
    size_t n = 0;
    gw_append_str(line, sizeof line, &n, "[gowsgi] [");
    gw_append_uint(line, sizeof line, &n, (unsigned long)getpid());
    gw_append_str(line, sizeof line, &n, "] [CRITICAL] fatal ");
    gw_append_str(line, sizeof line, &n, gw_signal_name(sig));
    gw_append_str(line, sizeof line, &n, " in the app (a C extension?) while serving ");
    if (gw_crash_note_len > 0) {
        gw_append_str(line, sizeof line, &n, "\"");
        gw_append(line, sizeof line, &n, gw_crash_note, gw_crash_note_len);
        gw_append_str(line, sizeof line, &n, "\"");
    } else {
        gw_append_str(line, sizeof line, &n, "a request");
    }
    gw_append_str(line, sizeof line, &n, "; the Python traceback follows, then the process exits\n");
    ssize_t ignored = write(STDERR_FILENO, line, n);
    (void)ignored;
    sigaction(sig, &gw_python_actions[slot], NULL);
    if (sig == SIGABRT) {
        raise(sig);
    }
}

void gw_crash_note_set(const char *p, size_t n, int append) {
    unsigned len = append ? gw_crash_note_len : 0;
    if (append && len < GW_CRASH_NOTE_MAX) {
        gw_crash_note[len++] = ' ';
    }
    if (n > GW_CRASH_NOTE_MAX - len) {
        n = GW_CRASH_NOTE_MAX - len;
    }
    memcpy(gw_crash_note + len, p, n);
    gw_crash_note_len = len + (unsigned)n;
}

int gw_crash_install(void) {
    for (int i = 0; i < GW_FATAL_COUNT; i++) {
        if (sigaction(gw_fatal_signals[i], NULL, &gw_go_actions[i]) != 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    PyObject *faulthandler = PyImport_ImportModule("faulthandler");
    if (faulthandler == NULL) {
        return -1;
    }
    PyObject *r = PyObject_CallMethod(faulthandler, "enable", NULL);
    Py_DECREF(faulthandler);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = gw_crash_handler;
    /* SA_ONSTACK: Go requires non-Go handlers to run on the signal stack. */
    ours.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&ours.sa_mask);
    for (int i = 0; i < GW_FATAL_COUNT; i++) {
        if (sigaction(gw_fatal_signals[i], &ours, &gw_python_actions[i]) != 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    return 0;
}

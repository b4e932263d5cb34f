"""An app for the PID-1 test: it leaves orphaned processes behind.

GET /orphan    runs `sh -c 'sleep 0.5 & exit 0'` and does not wait: the
               shell exits at once and its background sleep is orphaned,
               re-parented to PID 1, and a zombie when it ends unless
               PID 1 reaps it.
GET /procs     one line per process: "pid ppid state comm", from /proc.
"""

import os
import subprocess


def _procs():
    lines = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # ended meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parens.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        lines.append(f"{name} {ppid} {state} {comm}")
    return "\n".join(lines) + "\n"


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/orphan":
        proc = subprocess.Popen(["sh", "-c", "sleep 0.5 & exit 0"])
        body = f"{proc.pid}\n"
    elif path == "/procs":
        body = _procs()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]

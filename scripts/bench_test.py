"""Checks scripts/bench's reading of wrk output (outputs recorded from real
runs) and its verdicts on the targets.  Run: python3 scripts/bench_test.py"""

import importlib.machinery
import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_loader = importlib.machinery.SourceFileLoader("bench", os.path.join(HERE, "bench"))
_spec = importlib.util.spec_from_loader("bench", _loader)
bench = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench)

CLEAN = """Running 1s test @ http://127.0.0.1:40163/hello
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.99ms    1.19ms   8.39ms   85.26%
    Req/Sec    25.78k     1.43k   27.55k    60.00%
  Latency Distribution
     50%  489.00us
     75%    1.22ms
     90%    2.84ms
     99%    4.94ms
  25674 requests in 1.00s, 2.79MB read
Requests/sec:  25635.14
Transfer/sec:      2.79MB
"""

# granian on /file before the app had a fallback for wsgi.file_wrapper.
FAILING = """Running 1s test @ http://127.0.0.1:54605/file
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.16ms  812.96us   6.36ms   85.28%
    Req/Sec     3.78k   458.00     4.18k    81.82%
  Latency Distribution
     50%    0.97ms
     75%    1.28ms
     90%    2.06ms
     99%    4.49ms
  4139 requests in 1.10s, 379.95KB read
  Non-2xx or 3xx responses: 4139
Requests/sec:   3761.22
Transfer/sec:    345.27KB
"""

# uWSGI on /chunks: bodies ended by closing the connection. That run had no
# --latency; its distribution lines are written by hand, with a 99 % in
# seconds to cover that unit.
EOF_READS = """Running 1s test @ http://127.0.0.1:55107/chunks
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   557.45us  202.93us   2.60ms   77.58%
    Req/Sec     3.05k    86.34     3.17k    72.73%
  Latency Distribution
     50%  530.00us
     75%  610.00us
     90%  700.00us
     99%    1.20s
  3334 requests in 1.10s, 325.85MB read
  Socket errors: connect 0, read 3334, write 0, timeout 0
Requests/sec:   3030.64
Transfer/sec:    296.20MB
"""


class ParseWrk(unittest.TestCase):
    def test_clean_run(self):
        r = bench.parse_wrk(CLEAN)
        self.assertEqual(r["rps"], 25635.14)
        self.assertAlmostEqual(r["p50_ms"], 0.489)
        self.assertAlmostEqual(r["p99_ms"], 4.94)
        self.assertEqual(r["requests"], 25674)
        self.assertEqual(r["errors"], 0)
        self.assertAlmostEqual(r["transfer_bytes_per_s"], 2.79 * (1 << 20))

    def test_non2xx_are_errors(self):
        r = bench.parse_wrk(FAILING)
        self.assertEqual(r["non2xx"], 4139)
        self.assertEqual(r["errors"], 4139)

    def test_eof_reads(self):
        r = bench.parse_wrk(EOF_READS)
        self.assertEqual((r["read_errors"], r["errors"]), (3334, 3334))
        self.assertAlmostEqual(r["p99_ms"], 1200)
        bench.forgive_eof_reads(r)
        self.assertEqual((r["eof_reads"], r["errors"]), (3334, 0))


class Targets(unittest.TestCase):
    def doc(self, hello_gowsgi, hello_bare):
        med = lambda rps: {"median": {"rps": rps, "p99_ms": 1.0}}  # noqa: E731
        return {"settings": {"threads": 4},
                "results": {"hello": {"gowsgi": med(hello_gowsgi), "barego": med(hello_bare)}}}

    def test_bare_go_ratio(self):
        got = {t["target"]: t for t in bench.targets(self.doc(900, 1000))}
        t = got["hello: gowsgi >= 85 % of bare Go"]
        self.assertEqual((t["pass"], t["shown"]), (True, "90%"))
        got = {t["target"]: t for t in bench.targets(self.doc(800, 1000))}
        self.assertFalse(got["hello: gowsgi >= 85 % of bare Go"]["pass"])

    def test_unmeasured_is_not_a_verdict(self):
        got = {t["target"]: t for t in bench.targets(self.doc(900, 1000))}
        t = got["flask: gowsgi >= 1.05x granian"]
        self.assertEqual((t["pass"], t["shown"]), (None, "not measured"))


class CpuLists(unittest.TestCase):
    def test_cpu_count(self):
        for spec, want in (("0", 1), ("0-7", 8), ("8-15", 8), ("0,2-3", 3)):
            self.assertEqual(bench.cpu_count(spec), want, spec)

    def test_one_wrk_thread_per_load_cpu(self):
        w = bench.WORKLOAD_BY_NAME["hello"]
        self.assertIn("-t1", bench.wrk_argv(w, 1, 5, "0", None))
        self.assertIn("-t8", bench.wrk_argv(w, 1, 5, "8-15", None))
        few = bench.Workload("few", "/hello", 4, "4 connections")
        self.assertIn("-t4", bench.wrk_argv(few, 1, 5, "8-15", None))


class StealTest(unittest.TestCase):
    def test_steal_share(self):
        # user nice system idle iowait irq softirq steal guest guest_nice
        before = [100, 0, 50, 800, 0, 0, 10, 40, 0, 0]
        after = [160, 0, 80, 820, 0, 0, 20, 60, 30, 0]
        # 140 jiffies passed (guest is inside user), 20 of them stolen.
        self.assertEqual(bench.steal_pct(before, after), 14.3)

    def test_no_counters(self):
        self.assertIsNone(bench.steal_pct(None, [1] * 10))
        self.assertIsNone(bench.steal_pct([1] * 10, [1] * 10))

    def test_reads_proc_stat(self):
        import tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".stat", delete=False) as f:
            f.write("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1 1 1 1 1 1 1\n")
        try:
            self.assertEqual(bench.cpu_times(f.name), list(range(1, 11)))
        finally:
            os.unlink(f.name)
        self.assertIsNone(bench.cpu_times("/nonexistent/stat"))

    def test_summary_names_the_worst_round(self):
        doc = {"results": {"hello": {
            "gowsgi": {"rounds": [{"steal_pct": 0.0}, {"steal_pct": 12.5}, {"steal_pct": 1.0}]},
            "granian": {"rounds": [{"steal_pct": 0.5}, {"error": "wrk exited 1"}]}}}}
        line = bench.steal_summary(doc)
        self.assertIn("median 0.5 %", line)
        self.assertIn("at most 12.5 % (hello gowsgi round 2)", line)
        self.assertIsNone(bench.steal_summary({"results": {"hello": {"gowsgi": {"rounds": [{}]}}}}))


if __name__ == "__main__":
    unittest.main()

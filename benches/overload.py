"""Overload on the embedded engine: measured, never asserted.

    ulimit -n 20000; python benches/overload.py

GET user through wrk at 64 connections, then at 4,000 and 8,000, against one
release binary on one seeded data directory, in one run (issue 32's flood):
for each, the requests/s that answered 2xx, the p50/p99 over every answer
(fast refusals included, as wrk counts them), wrk's socket errors (connect,
read, write, timeout: its timeout is 2 s), the service's CPU per request and
its peak RSS. BENCH_DURATION, BENCH_WARMUP and BENCH_USERS as in `make bench`;
BENCH_FLOOD_CONNECTIONS overrides the connection counts (comma-separated).
"""

import os
import pathlib
import tempfile

import harness

FLOODS = [int(n) for n in os.environ.get("BENCH_FLOOD_CONNECTIONS", "64,4000,8000").split(",")]


def flood(service, data_file, connections):
    harness.CONNECTIONS = connections
    harness.wrk(service.base, "get_user", data_file, harness.WARMUP)
    service.reset_peak_rss()
    cpu_before = service.cpu_seconds()
    result = harness.wrk(service.base, "get_user", data_file, harness.DURATION)
    cpu = service.cpu_seconds() - cpu_before
    seconds = result["duration_us"] / 1e6
    refused = result["errors"]["status"]
    return {
        "connections": connections,
        "answered_per_second": round(result["requests"] / seconds),
        "ok_per_second": round((result["requests"] - refused) / seconds),
        "non_2xx": refused,
        "p50_ms": result["latency_us"]["p50"] / 1000,
        "p99_ms": result["latency_us"]["p99"] / 1000,
        "socket_errors": {k: v for k, v in result["errors"].items() if k != "status"},
        "cpu_us_per_request": round(cpu / max(result["requests"], 1) * 1e6, 1),
        "peak_rss_mib": round(service.memory_kib("VmHWM") / 1024, 1),
    }


def main():
    with tempfile.TemporaryDirectory(prefix="ecommerce-overload-") as workdir:
        data_dir = pathlib.Path(workdir) / "data"
        data_file = pathlib.Path(workdir) / "bench.data"
        service = harness.Service(data_dir)
        try:
            harness.seed(service.base, data_file)
            for connections in FLOODS:
                figures = flood(service, data_file, connections)
                print(figures, flush=True)
        finally:
            service.stop()


if __name__ == "__main__":
    main()

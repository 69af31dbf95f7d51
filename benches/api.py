"""The API benchmark behind `make bench`: measured, never asserted (except in smoke mode).

The release binary serves a fresh embedded data directory. The harness seeds
it through the API (1,000 users; one with 10,000 orders, the rest with a few),
then drives each scenario with wrk (benches/wrk/scenario.lua) from a separate
process that shares the machine's cores with the service. For each scenario:
one warm-up, then BENCH_RUNS runs of BENCH_DURATION seconds at
BENCH_CONNECTIONS connections; the median run is reported. The service's CPU
time comes from /proc/<pid>/stat before and after a run, its peak RSS from
VmHWM (reset through /proc/<pid>/clear_refs before each run).

Also measured: start-up from exec to the first 200 on /health/ready (median of
10), idle RSS, the binary's size, durable placements (every 201 must survive
kill -9), the service's CPU per call on both engines against a fake DynamoDB
that answers at once, with the SDK's floor (engine_cost.py), and the
DynamoDB requests per API call against the emulator at MOTO_ENDPOINT (moto
is far too slow to measure cost against). Without MOTO_ENDPOINT the run
stops before it starts: a section that cannot run fails, never skips.

BENCH_SMOKE=1 runs everything tiny and fails on any error: `make test` uses it
so the harness keeps working. Results: target/bench/results.json (smoke.json in smoke mode).
"""

import datetime
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

from engine_cost import engine_cost, report
from harness import (BINARY, CONNECTIONS, DURATION, DYNAMODB_CALLS, JSON, RESULTS, ROOT, RUNS, SCENARIOS, SMOKE,
                     STARTUPS, THREADS, WARMUP, Service, capture_orders, expect,
                     parallel, run_scenario, seed)

class OtlpSink:
    """Accepts OTLP/HTTP trace exports and drops them: the far end of the
    exporter, so tracing costs what it costs in the service (the sink's own
    CPU shares the machine, as wrk does)."""

    def __init__(self):
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()


def telemetry_cost(bench_data, data_file, workdir):
    """GET user with telemetry off (the default), EMF metrics on, every request
    traced and exported, a tenth traced, and metrics with every request
    traced: what observability costs per request."""
    sink = OtlpSink()
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_TRACES_SAMPLER": "always_on",
               "OTEL_BSP_MAX_QUEUE_SIZE": "65536"}
    configurations = {
        "off": {},
        "metrics": {"METRICS": "on"},
        "tracing": tracing,
        # What the stack deploys: a tenth of new traces sampled.
        "tracing_sampled_10_percent": {**tracing, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                                       "OTEL_TRACES_SAMPLER_ARG": "0.1"},
        "metrics_and_tracing": {"METRICS": "on", **tracing},
    }
    results = {}
    try:
        for name, env in configurations.items():
            service = Service(bench_data, env=env)
            results[name] = run_scenario(service, "get_user", data_file, workdir)
            service.stop()
    finally:
        sink.close()
    return results


def startup(workdir):
    seconds, idle = [], None
    for i in range(STARTUPS):
        data = pathlib.Path(workdir) / f"startup-{i}"
        service = Service(data)
        seconds.append(service.startup_seconds)
        if idle is None:
            time.sleep(0.5)  # let the runtime settle before reading an idle figure
            idle = service.memory_kib("VmRSS") / 1024
        service.stop()
    return {"startup_ms_median": round(statistics.median(seconds) * 1000, 1),
            "startup_ms_all": [round(s * 1000, 1) for s in seconds], "idle_rss_mib": round(idle, 1)}


def durability(service, data_dir, data_file, workdir):
    """Every 201 of a placement run survives a kill -9 straight after it."""
    result, lines = capture_orders(service.base, data_file, DURATION, workdir)
    service.kill()
    service = Service(data_dir)
    found = parallel(lambda s, line: s.get(
        f"{service.base}/orders/{line.split()[2]}", params={"customer_id": line.split()[1]}).status_code == 200, lines)
    service.stop()
    return {"placed_201": len(lines), "found_after_kill_9": sum(found),
            "durable_placements_per_second": round(len(lines) / (result["duration_us"] / 1e6)),
            "wrk_errors": result["error_count"]}


def moto_counts(endpoint):
    return requests.get(f"{endpoint}/_bench/dynamodb-requests", timeout=5).json()


def dynamodb(workdir):
    """DynamoDB requests per API call against moto: correctness and requests per
    call, not cost (moto closes every connection and answers slowly; the
    service's CPU per call here is mostly connection set-up and waiting; see
    engine_cost.py for the cost)."""
    endpoint = os.environ["MOTO_ENDPOINT"]
    # Generous budgets: moto queues DynamoDB requests, and on a loaded
    # machine a wait is not the fault this section looks for.
    env = {"STORE": "dynamodb", "CREATE_TABLE": "true", "TABLE_NAME": f"bench-{uuid.uuid4().hex[:8]}",
           "NOTIFICATIONS_SOURCE": "off", "AWS_ENDPOINT_URL": endpoint,
           "DYNAMODB_ATTEMPT_TIMEOUT_MS": "20000", "DYNAMODB_TIMEOUT_MS": "60000"}
    service = Service(pathlib.Path(workdir) / "unused", env)
    base, session = service.base, requests.Session()
    n = DYNAMODB_CALLS
    users = [f"dyn{i:04d}" for i in range(n)]
    orders = {}

    def add_user(i):
        expect(session.post(f"{base}/add_user", headers=JSON, json={
            "username": users[i], "email": f"{users[i]}@example.com", "name": "D"}), 201)

    def place_order(i):
        orders[i] = expect(session.post(f"{base}/orders", headers=JSON, json={
            "username": users[i], "amount": 5.5, "numItems": 1}), 201)["data"]["OrderId"]

    operations = [
        ("POST /add_user", add_user),
        ("POST /orders", place_order),
        ("GET /users/{username}", lambda i: expect(session.get(f"{base}/users/{users[i]}"), 200)),
        ("GET /orders/{id}?customer_id", lambda i: expect(session.get(
            f"{base}/orders/{orders[i]}", params={"customer_id": users[i]}), 200)),
        ("GET /orders/{id} (GSI)", lambda i: expect(session.get(f"{base}/orders/{orders[i]}"), 200)),
        ("GET /orders?username (page of 10)", lambda i: expect(session.get(
            f"{base}/orders", params={"username": users[i], "limit": 10}), 200)),
        ("GET /orders?status (first page)", lambda i: expect(session.get(
            f"{base}/orders", params={"status": "PLACED"}), 200)),
        ("PUT /orders/{id}", lambda i: expect(session.put(f"{base}/orders/{orders[i]}", headers=JSON, json={
            "username": users[i], "status": "PROCESSING"}), 200)),
        ("POST /edit-address", lambda i: expect(session.post(f"{base}/edit-address", params={
            "username": users[i], "new_address": "1 Main St"}), 200)),
    ]
    results = {}
    for name, call in operations:
        before, cpu_before = moto_counts(endpoint), service.cpu_seconds()
        for i in range(n):
            call(i)
        cpu, after = service.cpu_seconds() - cpu_before, moto_counts(endpoint)
        by_operation = {op: (after.get(op, 0) - before.get(op, 0)) / n for op in after
                        if after.get(op, 0) != before.get(op, 0)}
        results[name] = {"dynamodb_requests_per_call": round(sum(by_operation.values()), 2),
                         "by_operation": by_operation, "service_cpu_us_per_call": round(cpu / n * 1e6)}
    service.stop()
    return results


def machine():
    cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return {"cores": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": commit.strip(), "wrk": f"-t{THREADS} -c{CONNECTIONS} -d{DURATION}s after a {WARMUP} s warm-up",
            "runs_per_scenario": RUNS, "smoke": SMOKE}


def main():
    if not os.environ.get("MOTO_ENDPOINT"):
        raise SystemExit("MOTO_ENDPOINT is not set: run under scripts/with-moto.sh (make bench, make bench-smoke); "
                         "the DynamoDB section needs the emulator")
    results = {"machine": machine(), "binary_bytes": BINARY.stat().st_size}
    with tempfile.TemporaryDirectory(prefix="ecommerce-bench-") as workdir:
        results.update(startup(workdir))
        print(f"start-up to ready: median {results['startup_ms_median']} ms; idle RSS {results['idle_rss_mib']} MiB",
              flush=True)
        data_file = pathlib.Path(workdir) / "seed.data"
        bench_data = pathlib.Path(workdir) / "bench"
        service = Service(bench_data)
        began = time.monotonic()
        users, orders = seed(service.base, data_file)
        print(f"seeded {users} users and {orders} orders in {time.monotonic() - began:.1f} s", flush=True)
        results["scenarios"] = {}
        for scenario in SCENARIOS:
            summary = run_scenario(service, scenario, data_file, workdir)
            results["scenarios"][scenario] = summary
            print(f"{scenario}: {summary['requests_per_second']:.0f} req/s, p50 {summary['p50_ms']} ms, "
                  f"p99 {summary['p99_ms']} ms, p99.9 {summary['p999_ms']} ms, errors {summary['errors']}, "
                  f"CPU {summary['cpu_us_per_request']:.1f} µs/req, peak RSS {summary['peak_rss_mib']} MiB", flush=True)
        results["durability"] = durability(service, bench_data, data_file, workdir)
        print(f"durability: {results['durability']}", flush=True)
        results["telemetry"] = telemetry_cost(bench_data, data_file, workdir)
        for name, summary in results["telemetry"].items():
            print(f"telemetry {name}: get_user {summary['requests_per_second']:.0f} req/s, "
                  f"p99 {summary['p99_ms']} ms, CPU {summary['cpu_us_per_request']:.1f} µs/req, "
                  f"errors {summary['errors']}", flush=True)
        results["engine_cost"] = engine_cost(workdir)
        report(results["engine_cost"])
        results["dynamodb"] = dynamodb(workdir)
        for name, figures in results["dynamodb"].items():
            print(f"dynamodb {name}: {figures['dynamodb_requests_per_call']} requests/call "
                  f"{figures['by_operation']}, service CPU {figures['service_cpu_us_per_call']} µs/call", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {RESULTS.relative_to(ROOT)}")
    return check(results)


def check(results):
    """Smoke mode proves the harness works: zero errors, nothing lost. Speed is never asserted."""
    problems = [f"{name}: {s['errors']} errors" for name, s in results["scenarios"].items() if s["errors"]]
    problems += [f"{name}: {s['moves_past_last_pass']} moves after every captured order was DELIVERED"
                 for name, s in results["scenarios"].items() if s.get("moves_past_last_pass")]
    problems += [f"telemetry {name}: {s['errors']} errors" for name, s in results["telemetry"].items() if s["errors"]]
    durable = results["durability"]
    if durable["found_after_kill_9"] != durable["placed_201"] or durable["wrk_errors"]:
        problems.append(f"durability: {durable}")
    if durable["placed_201"] == 0:
        problems.append("durability: no order was placed")
    problems += [f"engine cost {name}: {count} errors" for name, count in results["engine_cost"]["errors"].items()]
    for name, figures in results.get("dynamodb", {}).items():
        if figures["dynamodb_requests_per_call"] <= 0:
            problems.append(f"dynamodb {name}: no request counted")
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

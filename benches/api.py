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
kill -9), and the DynamoDB requests per API call and the service's CPU per
call on the DynamoDB engine, against the emulator at MOTO_ENDPOINT (moto is
far too slow to measure throughput against). Without MOTO_ENDPOINT the run
stops before it starts: a section that cannot run fails, never skips.

BENCH_SMOKE=1 runs everything tiny and fails on any error: `make test` uses it
so the harness keeps working. Results: target/bench/results.json (smoke.json in smoke mode).
"""

import concurrent.futures
import datetime
import glob
import http.client
import json
import os
import pathlib
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

from processes import cpu_seconds, launch

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The release binary; the smoke run (which never judges speed) passes the debug one.
BINARY = pathlib.Path(os.environ.get("BENCH_BINARY") or pathlib.Path(
    os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "ecommerce-service")
WRK_DIR = ROOT / "benches" / "wrk"
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
# The smoke run must not overwrite a real run someone means to compare with.
RESULTS = ROOT / "target" / "bench" / ("smoke.json" if SMOKE else "results.json")
PAGE = os.sysconf("SC_PAGE_SIZE")


def setting(name, full, smoke):
    return int(os.environ.get(f"BENCH_{name}", smoke if SMOKE else full))


CONNECTIONS = setting("CONNECTIONS", 64, 8)
THREADS = setting("THREADS", 2, 2)
DURATION = setting("DURATION", 10, 1)
WARMUP = setting("WARMUP", 3, 1)
RUNS = setting("RUNS", 3, 1)
USERS = setting("USERS", 1000, 20)
BIG_ORDERS = setting("BIG_ORDERS", 10000, 100)
FEW_ORDERS = setting("FEW_ORDERS", 3, 2)
STARTUPS = setting("STARTUPS", 10, 2)
DYNAMODB_CALLS = setting("DYNAMODB_CALLS", 200, 2)
SCENARIOS = ["get_user", "get_order", "list_orders", "place_order", "move_order", "mix"]
JSON = {"Content-Type": "application/json"}



class Service:
    """The release binary as a child process, with its /proc figures."""

    def __init__(self, data_dir, env=None, log=None):
        started = time.perf_counter()
        self.process, self.port = launch(BINARY, {"DATA_DIR": str(data_dir), **(env or {})}, log)
        self.base = f"http://127.0.0.1:{self.port}"
        self.startup_seconds = self._wait_ready(started)

    def _wait_ready(self, started):
        deadline = started + 30
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the service exited with {self.process.returncode} before it was ready")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                connection.request("GET", "/health/ready")
                if connection.getresponse().status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.001)
        raise SystemExit("the service did not become ready within 30 s")

    def cpu_seconds(self):
        return cpu_seconds(self.process.pid)

    def memory_kib(self, field):
        for line in pathlib.Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def reset_peak_rss(self):
        pathlib.Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        if self.process.wait(timeout=30) != 0:
            raise SystemExit(f"the service exited with {self.process.returncode} on SIGTERM")

    def kill(self):
        self.process.kill()
        self.process.wait()


def parallel(function, items, workers=8):
    local = threading.local()

    def call(item):
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return function(local.session, item)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return list(pool.map(call, items))


def expect(response, status):
    if response.status_code != status:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return response.json()


def seed(base, data_file):
    """Users and orders through the API; the data file lists what wrk may read."""
    users = [f"user{i:04d}" for i in range(USERS)]
    parallel(lambda s, u: expect(s.post(f"{base}/add_user", headers=JSON, json={
        "username": u, "email": f"{u}@example.com", "name": u.title()}), 201), users)
    placements = [users[0]] * BIG_ORDERS + [u for u in users[1:] for _ in range(FEW_ORDERS)]
    placed = parallel(lambda s, u: (u, expect(s.post(f"{base}/orders", headers=JSON, json={
        "username": u, "amount": 19.99, "numItems": 2}), 201)["data"]["OrderId"]), placements)
    with open(data_file, "w") as out:
        out.writelines(f"user {u}\n" for u in users)
        out.writelines(f"order {u} {order}\n" for u, order in placed)
    return len(users), len(placed)


def wrk(base, scenario, data_file, seconds, capture=None):
    script = WRK_DIR / ("capture.lua" if capture else "scenario.lua")
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), base,
               "--", scenario, str(data_file), str(THREADS)] + ([str(capture)] if capture else [])
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise SystemExit(f"wrk {scenario} failed: {finished.stderr or finished.stdout}")
    output = finished.stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["error_count"] = sum(result["errors"].values())
    return result


def capture_orders(base, data_file, seconds, workdir):
    """Places orders for `seconds` and returns the "movable <user> <id>" lines wrk wrote."""
    prefix = pathlib.Path(workdir) / f"captured-{uuid.uuid4().hex[:8]}"
    result = wrk(base, "capture", data_file, seconds, capture=prefix)
    lines = []
    for path in glob.glob(f"{prefix}.*"):
        lines.extend(pathlib.Path(path).read_text().splitlines())
        os.unlink(path)
    return result, lines


def with_movable(data_file, lines, workdir):
    path = pathlib.Path(workdir) / "movable.data"
    path.write_text(pathlib.Path(data_file).read_text() + "".join(f"{line}\n" for line in lines))
    return path


def run_scenario(service, scenario, data_file, workdir):
    def data_for(seconds):
        if scenario not in ("move_order", "mix"):
            return data_file
        # Three passes over orders placed at the placement rate for twice as
        # long as the run lasts leave room for moves to be up to 6x faster
        # than placements (a loaded machine slows the capture more than the
        # moves); a run that still gets past the last pass is reported.
        _, lines = capture_orders(service.base, data_file, 2 * seconds, workdir)
        return with_movable(data_file, lines, workdir)

    wrk(service.base, scenario, data_for(WARMUP), WARMUP)
    runs = []
    for _ in range(RUNS):
        data = data_for(DURATION)
        service.reset_peak_rss()
        cpu_before = service.cpu_seconds()
        result = wrk(service.base, scenario, data, DURATION)
        cpu = service.cpu_seconds() - cpu_before
        runs.append({
            "requests_per_second": result["requests"] / (result["duration_us"] / 1e6),
            "p50_ms": result["latency_us"]["p50"] / 1000,
            "p99_ms": result["latency_us"]["p99"] / 1000,
            "p999_ms": result["latency_us"]["p999"] / 1000,
            "errors": result["error_count"],
            "cpu_us_per_request": cpu / max(result["requests"], 1) * 1e6,
            "peak_rss_mib": service.memory_kib("VmHWM") / 1024,
            "moves_past_last_pass": result["moves_past_last_pass"],
        })
    summary = {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
    summary["errors"] = sum(run["errors"] for run in runs)
    summary["moves_past_last_pass"] = sum(run["moves_past_last_pass"] for run in runs)
    summary["peak_rss_mib"] = round(max(run["peak_rss_mib"] for run in runs), 1)
    summary["runs"] = runs
    return summary


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
    """DynamoDB requests per API call and the service's CPU per call, against moto."""
    endpoint = os.environ["MOTO_ENDPOINT"]
    env = {"STORE": "dynamodb", "CREATE_TABLE": "true", "TABLE_NAME": f"bench-{uuid.uuid4().hex[:8]}",
           "NOTIFICATIONS_SOURCE": "off", "AWS_ENDPOINT_URL": endpoint}
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
    for name, figures in results.get("dynamodb", {}).items():
        if figures["dynamodb_requests_per_call"] <= 0:
            problems.append(f"dynamodb {name}: no request counted")
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

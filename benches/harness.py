"""What every benchmark section shares: the settings, the service as a child
process, the seeding, and wrk runs of the scenarios in benches/wrk/."""

import concurrent.futures
import glob
import json
import os
import pathlib
import signal
import statistics
import subprocess
import threading
import time
import uuid
import http.client

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
SCENARIOS = ["get_user", "get_order", "list_orders", "queue_first_page", "place_order", "move_order", "mix"]
JSON = {"Content-Type": "application/json"}


class Service:
    """The release binary as a child process, with its /proc figures."""

    def __init__(self, data_dir, env=None, log=None):
        started = time.perf_counter()
        # wrk is one caller at thousands of requests a second, which the
        # per-caller buckets would rightly refuse: off unless a scenario of
        # benches/overload.py turns them on. Admission stays at its default.
        # The smoke run's debug binary is slow enough for the worker's line
        # to pass its target on a busy CI machine: it proves the harness,
        # so it runs without admission.
        settings = {"DATA_DIR": str(data_dir), "RATE_LIMIT": "off", **({"ADMISSION": "off"} if SMOKE else {}),
                    **(env or {})}
        self.process, self.port = launch(BINARY, settings, log)
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


def seed_once(data_dir, data_file):
    """Seeds `data_dir` through a service of its own, stopped afterwards."""
    service = Service(data_dir)
    try:
        return seed(service.base, data_file)
    finally:
        service.stop()


def wrk(base, scenario, data_file, seconds, capture=None):
    script = WRK_DIR / ("capture.lua" if capture else "scenario.lua")
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script), base,
               "--", scenario, str(data_file), str(THREADS)] + ([str(capture)] if capture else [])
    # BENCH_RUN: a fresh tag, so the users a `register` run creates never
    # collide with an earlier run's.
    finished = subprocess.run(command, capture_output=True, text=True,
                              env={**os.environ, "BENCH_RUN": uuid.uuid4().hex[:8]})
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

"""The service's CPU per API call on its production engine, in one run beside
the embedded engine's and the SDK's floor.

On ECS the service runs on DynamoDB, so its CPU per call there sizes the
fleet. moto cannot show it (it closes every connection and answers slowly),
so this section runs the service against a fake DynamoDB
(benches/dynamodb/fake.rs) that holds the table in memory, keeps
connections open and answers at once. Each call of the README's request
table runs under wrk (delete user from a Python pool: each user is deleted
once) on both engines, with INFO logging on as deployed. The floor is the
same SDK calls in a bare loop against the same fake (benches/dynamodb/floor.rs):
what the service spends above it is its own.

FAKE_DYNAMODB_LATENCY_MS=<p50>,<p99> makes the fake answer after a
log-normal delay (benches/dynamodb/fake.rs), for the cost per call at
DynamoDB's real latency; BENCH_FLOOR_CALLS shortens the floor's bare loop,
which then waits on every call.
"""

import json
import os
import pathlib
import subprocess
import threading

from harness import (BINARY, DURATION, JSON, SMOKE, WARMUP, Service, capture_orders, expect, parallel, seed,
                     with_movable, wrk)

# Built beside the binary: `cargo build [--release] --example bench-dynamodb`.
FAKE = pathlib.Path(os.environ.get("BENCH_FAKE_DYNAMODB") or BINARY.parent / "examples" / "bench-dynamodb")
WRK_CALLS = ["register", "get_user", "edit_address", "place_order", "get_order", "get_order_by_id", "list_orders",
             "queue_first_page",
             "move_order"]
DELETIONS = 40 if SMOKE else 2000
FLOOR_CALLS = int(os.environ.get("BENCH_FLOOR_CALLS") or (200 if SMOKE else 20000))
# The SDK's floor configured as the service configures it (a client per
# thread, no stalled-stream protection, timeouts), and with each of those
# choices undone, so each one's cost shows.
SERVICE_FLOOR = ["client-per-thread", "no-stalled-stream-protection"]
FLOOR_SETUPS = {
    "as the service": SERVICE_FLOOR,
    "one client shared by the threads": ["no-stalled-stream-protection"],
    "with stalled-stream protection": ["client-per-thread"],
    "without timeouts": [*SERVICE_FLOOR, "no-timeouts"],
}


class FakeDynamoDb:
    def __init__(self):
        if not FAKE.exists():
            raise SystemExit(f"{FAKE} is missing: cargo build --release --example bench-dynamodb")
        self.process = subprocess.Popen([str(FAKE), "serve"], stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise SystemExit(f"the fake DynamoDB did not start: {line!r}")
        self.endpoint = "http://" + line.removeprefix("listening on ")
        # Its log goes nowhere; keep the pipe drained.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def stop(self):
        self.process.terminate()
        self.process.wait()


def cpu_per_call(service, run):
    before = service.cpu_seconds()
    calls, errors = run()
    return round((service.cpu_seconds() - before) / max(calls, 1) * 1e6, 1), errors


def wrk_call(service, call, data_file, workdir):
    data = data_file
    if call == "move_order":
        _, lines = capture_orders(service.base, data_file, 2 * (WARMUP + DURATION), workdir)
        data = with_movable(data_file, lines, workdir)
    wrk(service.base, call, data, WARMUP)
    measured = {}

    def run():
        result = measured["wrk"] = wrk(service.base, call, data, DURATION)
        return result["requests"], result["error_count"] + result.get("moves_past_last_pass", 0)

    cpu, failed = cpu_per_call(service, run)
    result = measured["wrk"]
    # Little's law: answers a second times their mean latency.
    in_flight = result["requests"] / (result["duration_us"] / 1e6) * result["latency_us"]["mean"] / 1e6
    return cpu, failed, {"p99_ms": result["latency_us"]["p99"] / 1000, "in_flight": round(in_flight, 1)}


def deletions(service, tag):
    names = [f"del{tag}{i}" for i in range(DELETIONS)]
    parallel(lambda s, name: expect(s.post(f"{service.base}/add_user", headers=JSON, json={
        "username": name, "email": f"{name}@example.com", "name": "Gone"}), 201), names)

    def run():
        answers = parallel(lambda s, name: s.delete(f"{service.base}/users/{name}").status_code, names, workers=16)
        return len(answers), sum(1 for status in answers if status != 200)

    return cpu_per_call(service, run)


def engine_cost(workdir):
    fake = FakeDynamoDb()
    # The cost of a call, not of a refusal: wrk's 64 connections saturate the
    # machine on the heavier calls (a work-queue page at DynamoDB's latency
    # answers past the limiter's 250 ms target), and wrk does not wait when
    # refused, so with admission on those rows would count fast 503s.
    # benches/overload.py measures the gates.
    unlimited = {"ADMISSION": "off"}
    engines = {
        "embedded": unlimited,
        "dynamodb": {"STORE": "dynamodb", "TABLE_NAME": "bench", "AWS_ENDPOINT_URL_DYNAMODB": fake.endpoint,
                     "NOTIFICATIONS_SOURCE": "off", **unlimited},
    }
    calls, errors = {}, {}
    try:
        for engine, env in engines.items():
            service = Service(pathlib.Path(workdir) / f"cost-{engine}", env)
            data_file = pathlib.Path(workdir) / f"cost-{engine}.data"
            seed(service.base, data_file)
            for call in WRK_CALLS + ["delete_user"]:
                stats = {}
                if call == "delete_user":
                    cpu, failed = deletions(service, engine[:3])
                else:
                    cpu, failed, stats = wrk_call(service, call, data_file, workdir)
                figures = calls.setdefault(call, {})
                figures[f"{engine}_us"] = cpu
                figures.update({f"{engine}_{name}": value for name, value in stats.items()})
                print(f"  {engine} {call}: {cpu} µs of CPU per call {stats}", flush=True)
                if failed:
                    errors[f"{engine} {call}"] = failed
            service.stop()
        floors = {}
        for name, flags in FLOOR_SETUPS.items():
            floor = subprocess.run([str(FAKE), "floor", fake.endpoint, str(FLOOR_CALLS), *flags],
                                   capture_output=True, text=True)
            if floor.returncode != 0:
                raise SystemExit(f"the SDK floor failed: {floor.stderr}")
            floors[name] = {entry["operation"]: round(entry["cpu_us_per_call"], 1)
                            for entry in map(json.loads, floor.stdout.strip().splitlines())}
    finally:
        fake.stop()
    for figures in calls.values():
        figures["ratio"] = round(figures["dynamodb_us"] / figures["embedded_us"], 2)
    return {"calls": calls, "sdk_floor_us": floors, "errors": errors}


def report(cost):
    print(f"{'call':<16} {'embedded µs':>12} {'DynamoDB µs':>12} {'ratio':>6} {'DynamoDB p99 ms':>16} "
          f"{'in flight':>10}", flush=True)
    for call, f in cost["calls"].items():
        print(f"{call:<16} {f['embedded_us']:>12} {f['dynamodb_us']:>12} {f['ratio']:>6} "
              f"{f.get('dynamodb_p99_ms', '-'):>16} {f.get('dynamodb_in_flight', '-'):>10}")
    for setup, floors in cost["sdk_floor_us"].items():
        print(f"SDK floor ({setup}), µs of CPU per call: " + ", ".join(f"{op} {us}" for op, us in floors.items()),
              flush=True)


if __name__ == "__main__":
    # This section alone: `python benches/engine_cost.py` (after make bench's build).
    import tempfile
    with tempfile.TemporaryDirectory(prefix="ecommerce-cost-") as work:
        report(engine_cost(work))

"""Overload and slow dependencies (issue 32): measured, never asserted.

    ulimit -n 20000; python benches/overload.py [flood] [greedy] [brownout]

Every client here behaves as a well-behaved client does: a 503 or 429 makes
it wait the answer's Retry-After before its next request (bench-load,
benches/load/main.rs, on the same 2 cores as the service). Each scenario runs
the same release binary with its gates on (the defaults) and, for the
"before" figures, off.

- flood: GET user at 64 connections, then 4,000 and 8,000, on the embedded
  engine: the 2xx answers a second, p50/p99 over every answer (fast refusals
  included) and over the admitted ones, the refusals, socket errors (a
  failed connect or read, or an answer slower than 2 s), the service's CPU
  per answer and its peak RSS.
- greedy: 50 ordinary callers (one connection each, a request every 20 ms)
  beside one greedy caller on 10 connections with no pause (ten times an
  ordinary caller's connections), in JWT mode: each caller is an account of
  its own (in the admin group, whose reads of any profile are allowed; its
  bucket set to 100 a second, burst 200, for the run). The ordinary
  callers' p99 alone, beside the greedy caller, and beside it with the
  buckets off; and beside a greedy caller that ignores Retry-After.
- brownout: GET user on the DynamoDB engine against the fake
  (benches/dynamodb/fake.rs) at 3 ms (p99 10 ms), slowed to 300 ms for
  10 s, then fast again for 10 s; 500 connections, each a request every
  250 ms. Per second, from the service's own log and metrics: requests in
  flight (the limiter's count, sampled each second), p99 of the admitted
  requests (service side), refusals, RSS; and the time from the fake's
  recovery to the first second from which no request is refused and the
  admitted p99 is back within twice its level before the brownout.

BENCH_DURATION and BENCH_WARMUP as in `make bench`; BENCH_FLOOD_CONNECTIONS
overrides the flood's connection counts (comma-separated); BENCH_GATES=on
runs the flood and the brownout with the gates on only.
"""

import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import harness
from engine_cost import FakeDynamoDb
from tokens import Signer, serve_jwks

FLOODS = [int(n) for n in os.environ.get("BENCH_FLOOD_CONNECTIONS", "64,4000,8000").split(",")]
LOAD = harness.BINARY.parent / "examples" / "bench-load"
GATES_OFF = {"ADMISSION": "off", "RATE_LIMIT": "off"}
BROWNOUT_CONNECTIONS, BROWNOUT_PACE_MS = 500, 250
GREEDY_ROUNDS = 3
# Which of the two runs the flood and the brownout make: BENCH_GATES=on skips the "before".
GATES = os.environ.get("BENCH_GATES", "off,on").split(",")


def gate_runs():
    return [(f"gates {state}", GATES_OFF if state == "off" else {}) for state in GATES]


def load(base, data_file, connections, seconds, pace_ms=0, tokens=None, honour=True, warmup=None):
    """`bench-load` (benches/load/main.rs): GET user on `connections`
    connections, honouring Retry-After unless told not to, counted after a
    warm-up that opens the connections."""
    warmup = harness.WARMUP if warmup is None else warmup
    command = [str(LOAD), base.removeprefix("http://"), str(data_file), str(connections), str(warmup), str(seconds),
               str(pace_ms), str(tokens or "-"), "1" if honour else "0"]
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        raise SystemExit(f"bench-load failed: {finished.stderr or finished.stdout}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def headline(result):
    """The figures a row reports, without the per-second series."""
    return {"ok_per_second": result["ok_per_second"], "refused_per_second": result["refused_per_second"],
            "p50_ms": (result["answered"] or {}).get("p50_ms"), "p99_ms": (result["answered"] or {}).get("p99_ms"),
            "admitted_p99_ms": (result["admitted"] or {}).get("p99_ms"), "socket_errors": result["socket_errors"],
            "other_statuses": result["other_statuses"]}


def flood(workdir):
    data_dir = pathlib.Path(workdir) / "flood"
    data_file = pathlib.Path(workdir) / "flood.data"
    harness.seed_once(data_dir, data_file)
    figures = {}
    for label, env in gate_runs():
        service = harness.Service(data_dir, env)
        try:
            rows = []
            for connections in FLOODS:
                service.reset_peak_rss()
                cpu_before = service.cpu_seconds()
                result = load(service.base, data_file, connections, harness.DURATION)
                row = {"connections": connections, **headline(result)}
                # The warm-up's answers too: the CPU is read around the whole run.
                answers = (row["ok_per_second"] + row["refused_per_second"]) * (harness.DURATION + harness.WARMUP)
                row["cpu_us_per_answer"] = round((service.cpu_seconds() - cpu_before) / max(answers, 1) * 1e6, 1)
                row["peak_rss_mib"] = round(service.memory_kib("VmHWM") / 1024, 1)
                row["ok_vs_64"] = round(row["ok_per_second"] / rows[0]["ok_per_second"], 2) if rows else 1.0
                rows.append(row)
                print(f"flood, {label}: {row}", flush=True)
            figures[label] = rows
        finally:
            service.stop()
    return figures


def greedy(workdir):
    data_dir = pathlib.Path(workdir) / "greedy"
    data_file = pathlib.Path(workdir) / "greedy.data"
    harness.seed_once(data_dir, data_file)
    signer = Signer()
    jwks = serve_jwks(signer.jwks())
    ordinary = pathlib.Path(workdir) / "ordinary.tokens"
    ordinary.write_text("".join(signer.token(f"caller{n:02d}", ["admin"]) + "\n" for n in range(50)))
    hog = pathlib.Path(workdir) / "greedy.tokens"
    hog.write_text(signer.token("greedy", ["admin"]) + "\n")
    buckets = {"RATE_LIMIT_STAFF_PER_SECOND": "100", "RATE_LIMIT_STAFF_BURST": "200"}
    buckets["RATE_LIMIT"] = "on"
    runs = [("alone", {}, None), ("beside the greedy caller", {}, True),
            ("beside the greedy caller, buckets off", {"RATE_LIMIT": "off"}, True),
            ("beside a greedy caller that ignores Retry-After", {}, False)]
    # Each arrangement three times, interleaved: an ordinary caller's p99 is
    # a few milliseconds, which one run on a shared 2-core machine moves by
    # half; the median of three is what the rows compare.
    samples = {label: [] for label, _, _ in runs}
    for _ in range(GREEDY_ROUNDS):
        for label, extra, honours in runs:
            samples[label].append(greedy_run(data_dir, data_file, {**signer.settings(jwks), **buckets, **extra},
                                             ordinary, hog, honours))
            calm, hogged = samples[label][-1]
            print(f"greedy, {label}: ordinary {calm}; greedy {hogged or '-'}", flush=True)
    figures = {}
    for label, runs_of_label in samples.items():
        by_p99 = sorted(runs_of_label, key=lambda run: run[0]["p99_ms"])
        calm, hogged = by_p99[len(by_p99) // 2]
        figures[label] = {"ordinary": calm, "greedy": hogged, "ordinary_p99_ms_each": [r[0]["p99_ms"] for r in runs_of_label]}
        print(f"greedy, {label}, median of {len(runs_of_label)}: ordinary p99 {calm['p99_ms']} ms "
              f"(each {figures[label]['ordinary_p99_ms_each']})", flush=True)
    return figures


def greedy_run(data_dir, data_file, env, ordinary, hog, honours):
    service = harness.Service(data_dir, env)
    try:
        hogged = {}
        if honours is not None:
            def run_greedy():
                hogged.update(headline(load(service.base, data_file, 10, harness.DURATION + 1, 0, hog, honours)))
            thread = threading.Thread(target=run_greedy)
            thread.start()
        calm = headline(load(service.base, data_file, 50, harness.DURATION, 20, ordinary))
        if honours is not None:
            thread.join()
        return calm, hogged or None
    finally:
        service.stop()


class Sampler:
    """The service's RSS every 200 ms, and the phase the fake is in."""

    def __init__(self, service):
        self.service, self.samples, self.running = service, [], True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            self.samples.append((time.time(), self.service.memory_kib("VmRSS") / 1024))
            time.sleep(0.2)

    def stop(self):
        self.running = False
        self.thread.join()


def set_latency(fake, value):
    request = urllib.request.Request(f"{fake.endpoint}/fake/latency", data=value.encode(), method="PUT")
    urllib.request.urlopen(request).read()


def brownout_run(workdir, label, env):
    fake = FakeDynamoDb()
    name = label.replace(" ", "-")
    log_path = pathlib.Path(workdir) / f"brownout-{name}.log"
    data_file = pathlib.Path(workdir) / f"brownout-{name}.data"
    settings = {"STORE": "dynamodb", "TABLE_NAME": "bench", "AWS_ENDPOINT_URL_DYNAMODB": fake.endpoint,
                "NOTIFICATIONS_SOURCE": "off", "METRICS": "on", "METRICS_INTERVAL": "1", **env}
    result, phases = {}, {}
    try:
        with open(log_path, "wb") as log:
            service = harness.Service(pathlib.Path(workdir) / "unused", settings, log)
            try:
                harness.seed(service.base, data_file)
                set_latency(fake, "3,10")
                sampler = Sampler(service)

                def run_load():
                    result.update(load(service.base, data_file, BROWNOUT_CONNECTIONS, 26, BROWNOUT_PACE_MS,
                                       warmup=0))
                thread = threading.Thread(target=run_load)
                phases["start"] = time.time()
                thread.start()
                time.sleep(6)
                set_latency(fake, "300,300")
                phases["slow"] = time.time()
                time.sleep(10)
                set_latency(fake, "3,10")
                phases["fast"] = time.time()
                thread.join()
                sampler.stop()
            finally:
                service.stop()
    finally:
        fake.stop()
    return per_second(result, log_path, phases, sampler.samples)


def per_second(result, log_path, phases, rss):
    """The client's series, with the service's requests in flight (its
    once-a-second metric) and its RSS beside each second."""
    start = phases["start"]
    in_flight = {}
    for raw in log_path.read_bytes().splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if "InFlight" in line:
            at = int(line["_aws"]["Timestamp"] / 1000 - start)
            in_flight[at] = (max(line["InFlight"]), min(line["InFlightLimit"]))
    rows = []
    for second in result["series"]:
        at = second["second"]
        in_second = [mib for t, mib in rss if at <= t - start < at + 1]
        flight, limit = in_flight.get(at, (None, None))
        admitted = second["admitted"] or {}
        rows.append({"second": at, "phase": phase_of(at, phases), "ok": second["ok"], "refused": second["refused"],
                     "socket_errors": second["socket_errors"], "admitted_p99_ms": admitted.get("p99_ms"),
                     # Little's law, for the run without the limiter (which counts them itself).
                     "in_flight_estimate": round(second["ok"] * admitted.get("mean_ms", 0) / 1000),
                     "in_flight": flight, "limit": limit, "rss_mib": round(max(in_second), 1) if in_second else None})
    before = [r["admitted_p99_ms"] for r in rows if r["phase"] == "fast before" and r["second"] >= 1
              and r["admitted_p99_ms"] is not None]
    level = max(before) if before else None
    fast_at = phases["fast"] - start
    # From the second the fake changed in: the last (partial) second of the
    # run is left out.
    after = [r for r in rows if r["phase"] in ("switch", "fast after") and r["second"] >= int(fast_at)][:-1]
    recovered = None
    for index, row in enumerate(after):
        if level and all(r["refused"] == 0 and (r["admitted_p99_ms"] or 0) <= 2 * level for r in after[index:]):
            recovered = round(max(row["second"] - fast_at, 0), 1)
            break
    return {"rows": rows, "p99_before_ms": level, "recovered_after_s": recovered}


def phase_of(at, phases):
    """The phase of the second [at, at + 1): "switch" when the fake changed within it."""
    slow, fast = phases["slow"] - phases["start"], phases["fast"] - phases["start"]
    if at + 1 <= slow:
        return "fast before"
    if slow <= at and at + 1 <= fast:
        return "slow"
    if fast <= at:
        return "fast after"
    return "switch"


def brownout(workdir):
    figures = {}
    for label, env in gate_runs():
        result = brownout_run(workdir, label, env)
        for row in result["rows"]:
            print(f"brownout, {label}: {row}", flush=True)
        print(f"brownout, {label}: p99 before {result['p99_before_ms']} ms, "
              f"recovered {result['recovered_after_s']} s after the fake was fast again", flush=True)
        figures[label] = result
    return figures


SCENARIOS = {"flood": flood, "greedy": greedy, "brownout": brownout}


def main():
    chosen = sys.argv[1:] or list(SCENARIOS)
    results = {}
    with tempfile.TemporaryDirectory(prefix="ecommerce-overload-") as workdir:
        for name in chosen:
            results[name] = SCENARIOS[name](workdir)
    out = harness.ROOT / "target" / "bench" / "overload.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out.relative_to(harness.ROOT)}")


if __name__ == "__main__":
    main()

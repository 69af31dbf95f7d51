"""Where the service's CPU goes on the DynamoDB engine: `make profile`.

Runs the profiling build (release optimisation with line tables) against the
fake DynamoDB, drives one scenario with wrk (default get_order; argv[1]
picks another), records it with `perf record -g`, and writes the report to
target/bench/profile-<scenario>.txt: the functions by self time, and by
crate, so the SDK's share, ours and the rest can be told apart.
"""

import collections
import os
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
os.environ.setdefault("BENCH_BINARY", str(TARGET / "profiling" / "ecommerce-service"))
os.environ.setdefault("BENCH_FAKE_DYNAMODB", str(TARGET / "profiling" / "examples" / "bench-dynamodb"))
os.environ.setdefault("BENCH_USERS", "200")
os.environ.setdefault("BENCH_BIG_ORDERS", "200")

from engine_cost import FakeDynamoDb  # noqa: E402
from harness import Service, capture_orders, seed, with_movable, wrk  # noqa: E402

SECONDS = int(os.environ.get("PROFILE_SECONDS", "10"))


def by_crate(report):
    """Self time summed by the crate (or library) a symbol belongs to."""
    shares = collections.Counter()
    for line in report.splitlines():
        parts = line.split()
        if len(parts) < 3 or not parts[0].endswith("%"):
            continue
        share = float(parts[0].rstrip("%"))
        symbol = " ".join(parts[2:]) if parts[1] in ("[.]", "[k]") else " ".join(parts[1:])
        symbol = symbol.removeprefix("[.] ").removeprefix("[k] ")
        if parts[1] == "[k]":
            crate = "kernel"
        elif "::" in symbol:
            crate = symbol.lstrip("<&*( ").split("::")[0]
        else:
            crate = symbol.split("@")[0] if symbol.startswith(("__", "mem", "malloc", "free")) else "other"
        shares[crate] += share
    return shares


def main():
    scenario = sys.argv[1] if len(sys.argv) > 1 else "get_order"
    out = TARGET / "bench" / f"profile-{scenario}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    fake = FakeDynamoDb()
    try:
        with tempfile.TemporaryDirectory(prefix="ecommerce-profile-") as work:
            env = {"STORE": "dynamodb", "TABLE_NAME": "profile", "AWS_ENDPOINT_URL_DYNAMODB": fake.endpoint,
                   "NOTIFICATIONS_SOURCE": "off"}
            service = Service(pathlib.Path(work) / "unused", env)
            data_file = pathlib.Path(work) / "seed.data"
            seed(service.base, data_file)
            if scenario == "move_order":
                _, lines = capture_orders(service.base, data_file, 3 * SECONDS, work)
                data_file = with_movable(data_file, lines, work)
            wrk(service.base, scenario, data_file, 2)
            perf_data = pathlib.Path(work) / "perf.data"
            recorder = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", str(perf_data),
                                         "-p", str(service.process.pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wrk(service.base, scenario, data_file, SECONDS)
            recorder.send_signal(2)
            _, errors = recorder.communicate()
            if recorder.returncode not in (0, -2):
                raise SystemExit(f"perf record failed: {errors}")
            service.stop()
            report = subprocess.run(["perf", "report", "-i", str(perf_data), "--no-children", "--stdio",
                                     "--percent-limit", "0.3", "-g", "none", "--sort", "symbol"],
                                    capture_output=True, text=True, check=True).stdout
    finally:
        fake.stop()
    crates = by_crate(report)
    summary = "\n".join(f"{share:6.1f} %  {crate}" for crate, share in crates.most_common(25))
    out.write_text(f"# {scenario} on the DynamoDB engine (fake), {SECONDS} s, self time\n\n"
                   f"## by crate\n{summary}\n\n## by symbol\n{report}")
    print(summary)
    print(f"report: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()

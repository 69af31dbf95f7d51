"""An A/B of two release binaries on the embedded engine: measured, never asserted.

    python benches/ab.py <binary A> <binary B>

One data directory, seeded through the API by A, serves both binaries in
turn (never at once): each round runs A, then B, over the scenarios in
BENCH_AB_SCENARIOS (default: GET user, GET order, a listing page, placement),
BENCH_ROUNDS times (default 3), so drift on the machine falls on both alike.
Each scenario is harness.run_scenario: a warm-up, then BENCH_RUNS runs of
BENCH_DURATION seconds, the median reported. Printed per scenario: the
service's CPU per request and requests/s, every round, then the median over
rounds for each binary.
"""

import os
import pathlib
import statistics
import sys
import tempfile

import harness

SCENARIOS = os.environ.get("BENCH_AB_SCENARIOS", "get_user,get_order,list_orders,place_order").split(",")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def measure(binary, data_dir, data_file, workdir):
    harness.BINARY = binary
    service = harness.Service(data_dir)
    try:
        return {scenario: harness.run_scenario(service, scenario, data_file, workdir) for scenario in SCENARIOS}
    finally:
        service.stop()


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    binaries = {"A": pathlib.Path(sys.argv[1]), "B": pathlib.Path(sys.argv[2])}
    with tempfile.TemporaryDirectory() as workdir:
        data_dir = pathlib.Path(workdir) / "data"
        data_file = pathlib.Path(workdir) / "bench.data"
        harness.BINARY = binaries["A"]
        seeding = harness.Service(data_dir)
        harness.seed(seeding.base, data_file)
        seeding.stop()
        rounds = {name: [] for name in binaries}
        for round_number in range(1, ROUNDS + 1):
            for name, binary in binaries.items():
                results = measure(binary, data_dir, data_file, workdir)
                rounds[name].append(results)
                for scenario, result in results.items():
                    print(f"round {round_number} {name} {scenario:<12} {result['cpu_us_per_request']:8.1f} µs CPU/request"
                          f" {result['requests_per_second']:9.0f} req/s", flush=True)
    print("\nmedian over rounds (A -> B):")
    for scenario in SCENARIOS:
        cpu = {name: statistics.median(r[scenario]["cpu_us_per_request"] for r in rounds[name]) for name in binaries}
        rate = {name: statistics.median(r[scenario]["requests_per_second"] for r in rounds[name]) for name in binaries}
        print(f"  {scenario:<12} CPU/request {cpu['A']:.1f} -> {cpu['B']:.1f} µs ({cpu['B'] / cpu['A'] - 1:+.1%}),"
              f" {rate['A']:.0f} -> {rate['B']:.0f} req/s ({rate['B'] / rate['A'] - 1:+.1%})")


if __name__ == "__main__":
    main()

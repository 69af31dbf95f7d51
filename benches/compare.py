"""Compares two results.json files from benches/api.py: `make bench-compare BASE=<file>`.

Prints each figure of the base and the current run with the change in percent,
marked better or worse by the figure's direction (more requests/s is better,
more latency, CPU or memory is worse). It reports; it never fails a build.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
HIGHER_IS_BETTER = {"requests_per_second", "durable_placements_per_second"}
SCENARIO_FIGURES = ["requests_per_second", "p50_ms", "p99_ms", "p999_ms", "cpu_us_per_request", "peak_rss_mib",
                    "errors"]


def rows(base, current):
    for name in current.get("scenarios", {}):
        for figure in SCENARIO_FIGURES:
            before = base.get("scenarios", {}).get(name, {}).get(figure)
            yield f"{name} {figure}", before, current["scenarios"][name][figure], figure
    for figure in ["startup_ms_median", "idle_rss_mib", "binary_bytes"]:
        yield figure, base.get(figure), current.get(figure), figure
    yield ("durable_placements_per_second", base.get("durability", {}).get("durable_placements_per_second"),
           current["durability"]["durable_placements_per_second"], "durable_placements_per_second")
    for name, figures in current.get("engine_cost", {}).get("calls", {}).items():
        for figure in ["embedded_us", "dynamodb_us"]:
            before = base.get("engine_cost", {}).get("calls", {}).get(name, {}).get(figure)
            yield f"engine cost {name} {figure}", before, figures[figure], figure
    for name, figures in current.get("dynamodb", {}).items():
        for figure in ["dynamodb_requests_per_call", "service_cpu_us_per_call"]:
            yield f"dynamodb {name} {figure}", base.get("dynamodb", {}).get(name, {}).get(figure), figures[figure], figure


def shown(value):
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def verdict(before, after, figure):
    if before in (None, 0) or after is None:
        return ""
    change = (after - before) / before * 100
    if abs(change) < 5:
        return f"{change:+.1f} %"
    better = (change > 0) == (figure in HIGHER_IS_BETTER)
    return f"{change:+.1f} % ({'better' if better else 'worse'})"


def main(argv):
    if len(argv) < 2:
        raise SystemExit("usage: compare.py BASE.json [CURRENT.json]")
    base = json.loads(pathlib.Path(argv[1]).read_text())
    current_path = pathlib.Path(argv[2]) if len(argv) > 2 else ROOT / "target" / "bench" / "results.json"
    current = json.loads(current_path.read_text())
    print(f"base {base['machine']['commit']} ({base['machine']['date']}) -> "
          f"current {current['machine']['commit']} ({current['machine']['date']})")
    print("Shared machines are noisy: treat changes under ~10 % as noise.")
    width = max(len(label) for label, *_ in rows(base, current))
    for label, before, after, figure in rows(base, current):
        print(f"{label:<{width}}  {shown(before):>12}  {shown(after):>12}  {verdict(before, after, figure)}")


if __name__ == "__main__":
    main(sys.argv)

"""Contract fuzzing: schemathesis against the running service's own document.

Runs the debug binary on the embedded engine twice: with AUTH_MODE=off (what
`make run` serves; its document declares no security) and with AUTH_MODE=jwt
and an admin token signed by a key this script makes and serves as a JWKS
(the production document; schemathesis also checks that bad tokens get 401).
Exits non-zero on any failure.

Usage: run.py <service binary>
"""

import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "benches"))
from processes import launch  # noqa: E402
from tokens import Signer, serve_jwks  # noqa: E402


def wait_ready(base: str, service: subprocess.Popen, budget: float = 30.0) -> None:
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        if service.poll() is not None:
            sys.exit(f"the service exited with {service.returncode} before it was ready")
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"the service was not ready within {budget} s")


def fuzz(binary: str, label: str, env: dict, token: str | None) -> int:
    log_path = ROOT / "target" / "contract" / f"service-{label}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir, open(log_path, "wb") as log:
        # Given as the document's `bearer` scheme (not a plain header), so
        # schemathesis knows to leave it out when it checks that requests
        # without a token, or with a bad one, are refused.
        config = pathlib.Path(data_dir) / "schemathesis.toml"
        config.write_text((HERE / "schemathesis.toml").read_text()
                          + (f'\n[auth.openapi.bearer]\nbearer = "{token}"\n' if token else ""))
        # At INFO: the port is read from the "listening" line.
        service, port = launch(binary, {**env, "DATA_DIR": data_dir, "RUST_LOG": "info"}, log)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, service)
            command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
                       "run", f"{base}/api-docs/openapi.json", "--checks", "all",
                       # The one check left out, and why: ensure_resource_availability
                       # (ST302) decides that an order created by POST /orders must be
                       # found by PUT /orders/{order_id} once the path parameter came
                       # from the link, and it does not look at the body. PUT's body
                       # names the owner (the seed's contract: the order lives under
                       # CUSTOMER#<username>), and the stateful phase draws that field at
                       # random on purpose, so a PUT naming someone else rightly gets 404
                       # ORDER_NOT_FOUND (ids cannot be probed). schemathesis 4.32 takes
                       # stateful checks from the global list, so it cannot be turned off
                       # for that one operation. The API tests show created orders are
                       # found by GET and PUT.
                       "--exclude-checks", "ensure_resource_availability"]
            print(f"== contract fuzzing, AUTH_MODE={label}", flush=True)
            outcome = subprocess.run(command, cwd=ROOT, env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.hooks"})
        finally:
            service.terminate()
            service.wait(timeout=30)
    if outcome.returncode != 0:
        print(f"contract fuzzing failed with AUTH_MODE={label} (service log: {log_path})", file=sys.stderr)
    return outcome.returncode


def main() -> int:
    binary = sys.argv[1]
    signer = Signer()
    jwks_url = serve_jwks(signer.jwks())
    jwt_env = signer.settings(jwks_url)
    admin = signer.token("contract-admin", ["admin"])
    # The fuzzer is one caller sending as fast as it can, which the per-caller
    # buckets would rightly answer with 429s (tests/api/overload.rs shows
    # them); the contract is checked with them off, admission at its default.
    unlimited = {"RATE_LIMIT": "off"}
    failures = fuzz(binary, "off", {"AUTH_MODE": "off", **unlimited}, None)
    failures += fuzz(binary, "jwt", {**jwt_env, **unlimited}, admin)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

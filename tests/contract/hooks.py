"""Schemathesis hooks for `make contract-test`.

Idempotency keys: the fuzzer draws header values from a small pool, so it
sends one key with two different bodies, and the service rightly answers 422
IDEMPOTENCY_KEY_REUSED (documented; tests/api/idempotency.rs covers replay and
reuse). Each well-formed key is therefore replaced by a fresh one, as a real
client makes one key per logical request. Malformed keys are left as drawn, so
the service's rejection of them is still fuzzed.
"""

import re
import uuid

import schemathesis

WELL_FORMED_KEY = re.compile(r"^[!-~]([ -~]{0,126}[!-~])?$")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and WELL_FORMED_KEY.match(value):
            headers[name] = str(uuid.uuid4())

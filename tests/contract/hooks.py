"""Schemathesis hooks for `make contract-test`.

Idempotency keys: the fuzzer draws header values from a small pool, so it
sends one key with two different bodies, and the service rightly answers 422
IDEMPOTENCY_KEY_REUSED (documented; tests/api/idempotency.rs covers replay and
reuse). Each well-formed key is therefore replaced by a fresh one, as a real
client makes one key per logical request. Malformed keys are left as drawn, so
the service's rejection of them is still fuzzed.

GET /orders: the query names `username` (a customer's listing) or `status`
(the work queue), never both, and `nextToken` is a token the previous page
returned. OpenAPI cannot state a dependency between query parameters, and no
pattern can say which strings the service issued, so the fuzzer's
schema-valid drafts of these break the rules (a 422 or a 400, both documented;
tests/api/queue.rs and orders.rs assert them). So, as a real client would: a
well-formed drawn token is dropped, a query naming both keeps one (the
username, unless the status is malformed), and
a query naming neither asks for the PLACED queue. Malformed values are left as
drawn, so their rejection is still fuzzed.
"""

import re
import uuid

import schemathesis

WELL_FORMED_KEY = re.compile(r"^[!-~]([ -~]{0,126}[!-~])?$")
WELL_FORMED_TOKEN = re.compile(r"^[A-Za-z0-9_-]{4,6000}$")
STATUSES = {"PLACED", "PROCESSING", "SHIPPED", "DELIVERED", "CANCEL"}


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    for name, value in list(headers.items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and WELL_FORMED_KEY.match(value):
            headers[name] = str(uuid.uuid4())
    if case.method.upper() == "GET" and case.path == "/orders":
        query = case.query if case.query is not None else {}
        token = query.get("nextToken")
        if isinstance(token, str) and WELL_FORMED_TOKEN.match(token):
            del query["nextToken"]
        if "username" in query and "status" in query:
            # Keep a malformed status, so a negative case stays negative.
            status = query["status"]
            well_formed = isinstance(status, str) and status in STATUSES
            del query["status" if well_formed else "username"]
        if "username" not in query and "status" not in query:
            query["status"] = "PLACED"
        case.query = query

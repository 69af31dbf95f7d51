"""moto's server, with DynamoDB requests handled one at a time.

moto serves requests on many threads and checks a DynamoDB condition and
applies the write in separate steps, so two racing conditional writes can
both succeed: 50 concurrent registrations of one email admitted two. Real
DynamoDB never does that. Serializing the DynamoDB requests (and only those:
SQS long polls must not wait behind them) makes the emulator keep
DynamoDB's promise, which the concurrency tests rely on.

It also counts the DynamoDB requests by operation, served as JSON at
/_bench/dynamodb-requests, for the benchmark's requests-per-call figures.
"""

import collections
import json
import sys
import threading

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_dynamodb_lock = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__
# DynamoDB requests by operation, read by the benchmark (benches/api.py).
_dynamodb_requests = collections.Counter()
COUNTS_PATH = "/_bench/dynamodb-requests"


def _serialized(self, environ, start_response):
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        with _dynamodb_lock:
            _dynamodb_requests[target.split(".", 1)[-1]] += 1
            return list(_dispatch(self, environ, start_response))
    if environ.get("PATH_INFO") == COUNTS_PATH:
        with _dynamodb_lock:
            body = json.dumps(_dynamodb_requests).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    server.main(sys.argv[1:])

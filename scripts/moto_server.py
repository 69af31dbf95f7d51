"""moto's server, with DynamoDB requests handled one at a time.

moto serves requests on many threads and checks a DynamoDB condition and
applies the write in separate steps, so two racing conditional writes can
both succeed: 50 concurrent registrations of one email admitted two. Real
DynamoDB never does that. Serializing the DynamoDB requests (and only those:
SQS long polls must not wait behind them) makes the emulator keep
DynamoDB's promise, which the concurrency tests rely on.

It also counts the DynamoDB requests by operation, served as JSON at
/_bench/dynamodb-requests, for the benchmark's requests-per-call figures.

It binds the port itself (port 0: the kernel picks a free one) and prints
"listening on <host>:<port>", so no other process can take the port between
a probe and the bind.
"""

import argparse
import collections
import json
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

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



def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    host = parser.parse_args().host
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    # moto builds some URLs (SQS queue URLs) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(server.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"listening on {host}:{server.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

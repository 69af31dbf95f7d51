"""moto's server, with DynamoDB requests handled one at a time.

moto serves requests on many threads and checks a DynamoDB condition and
applies the write in separate steps, so two racing conditional writes can
both succeed: 50 concurrent registrations of one email admitted two. Real
DynamoDB never does that. Serializing the DynamoDB requests (and only those:
SQS long polls must not wait behind them) makes the emulator keep
DynamoDB's promise, which the concurrency tests rely on.
"""

import sys
import threading

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_dynamodb_lock = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        with _dynamodb_lock:
            return list(_dispatch(self, environ, start_response))
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _serialized

if __name__ == "__main__":
    server.main(sys.argv[1:])

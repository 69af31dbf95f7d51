#!/usr/bin/env bash
# Runs a command with moto's server (the local AWS emulator) on a loopback
# port it binds itself, exported as MOTO_ENDPOINT, and stops it afterwards.
# Fails, never skips, when the emulator cannot start.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV_DIR:-$root/.venv}"
"$root/scripts/python-tools.sh"

# moto binds a port of its own choosing and names it in its first line.
log="$(mktemp "${TMPDIR:-/tmp}/moto.XXXXXX")"
"$venv/bin/python" "$root/scripts/moto_server.py" -H 127.0.0.1 > "$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT

port=""
for _ in $(seq 1 200); do
  port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log" | head -n 1)"
  if [ -n "$port" ] && curl -fs -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto_server exited during start-up; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$port" ] || ! curl -fs -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
  echo "moto_server did not answer within 20 s; its log:" >&2
  cat "$log" >&2
  exit 1
fi

export MOTO_ENDPOINT="http://127.0.0.1:$port" AWS_ENDPOINT_URL="http://127.0.0.1:$port"
# Dummy credentials: nothing may reach for real AWS or the metadata service.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_EC2_METADATA_DISABLED=true
"$@"

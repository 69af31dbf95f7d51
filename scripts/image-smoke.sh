#!/usr/bin/env bash
# Runs a release binary the way the container does and checks its
# `healthcheck` subcommand: healthy while it serves, unhealthy after a
# SIGTERM, which must stop it cleanly (exit 0), flushing its metrics.
set -euo pipefail
binary="$1"
data_dir="$(mktemp -d)"
# Port 0: the service binds a free port itself and names it in its
# "listening" line (a probed port could be taken before it binds).
PORT=0 HOST=127.0.0.1 DATA_DIR="$data_dir" LOG_FORMAT=json METRICS=on "$binary" > "$data_dir/log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$data_dir"' EXIT

port=""
for _ in $(seq 1 100); do
  port="$(grep -m 1 '"message":"listening"' "$data_dir/log" | sed -E 's/.*"port":([0-9]+).*/\1/' || true)"
  if [ -n "$port" ]; then break; fi
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "image-smoke: the service logged no listening line; its log:" >&2
  cat "$data_dir/log" >&2
  exit 1
fi

healthy=false
for _ in $(seq 1 50); do
  if PORT="$port" "$binary" healthcheck 2>/dev/null; then healthy=true; break; fi
  sleep 0.1
done
if ! $healthy; then
  echo "image-smoke: the healthcheck never passed; service log:" >&2
  cat "$data_dir/log" >&2
  exit 1
fi
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
if [ "$status" -ne 0 ]; then
  echo "image-smoke: SIGTERM ended the service with status $status" >&2
  exit 1
fi
if PORT="$port" "$binary" healthcheck 2>/dev/null; then
  echo "image-smoke: the healthcheck passed with the service stopped" >&2
  exit 1
fi
# The healthchecks were requests: their metrics are written on the way out.
if ! grep -q '"Route":"GET /health/live"' "$data_dir/log"; then
  echo "image-smoke: no EMF line for the health checks after SIGTERM; service log:" >&2
  cat "$data_dir/log" >&2
  exit 1
fi
echo "image-smoke: ok ($(du -h "$binary" | cut -f1) binary; healthy while serving, unhealthy after a clean SIGTERM, metrics flushed)"

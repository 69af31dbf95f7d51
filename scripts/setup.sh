#!/usr/bin/env bash
# Makes a fresh Debian machine ready for `make test`: installs the system
# packages the tests use through apt when it may (as root, or with sudo that
# asks no password), and otherwise stops at once with the one command to run.
# The toolchains (Rust with rustfmt and clippy, Python 3, Node.js) it only
# checks. Quiet when everything is there.
set -euo pipefail

missing=()
need() { # need <command or path> <Debian package>
  if [[ "$1" == /* ]]; then [ -x "$1" ] || missing+=("$2"); else command -v "$1" >/dev/null || missing+=("$2"); fi
}
need curl curl
need npm npm
# Validates the compose file offline; no Docker engine is needed.
need docker-compose docker-compose
# Debian's Chromium for the Swagger UI browser test (never a tool's own download).
need /usr/bin/chromium chromium
# Drives the benchmark harness's smoke run.
need wrk wrk
# Runs DynamoDB Local (the jar of Amazon's image) for the DynamoDB engine's tests.
need java openjdk-17-jre-headless
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)

problems=()
cargo fmt --version >/dev/null 2>&1 || problems+=("rustfmt: rustup component add rustfmt")
cargo clippy --version >/dev/null 2>&1 || problems+=("clippy: rustup component add clippy")
if command -v node >/dev/null; then
  # `node --import tsx` (infra/, tests/browser/) needs Node.js 18.19 or later.
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 19) ? 0 : 1)' \
    || problems+=("Node.js $(node --version) is too old: 20 or later is needed")
fi
if [ "${#problems[@]}" -gt 0 ]; then
  printf 'setup: %s\n' "${problems[@]}" >&2
  exit 1
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo)
else
  echo "setup: missing ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]} with apt" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Prints the directory of a Node.js 24 (the LTS the pipeline's test stage
# runs: TEST_IMAGE in infra/lib/pipeline-stack.ts) for the project's JS
# tooling (infra/, tests/browser/). The machine's own node if it is 24 or
# later; otherwise the official binary as the npm registry ships it
# (package node-linux-<arch>), unpacked once into NODE_DIR. Nothing else
# is downloaded; npm itself stays the machine's.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=24.22.3
if command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 24 ]; then
  dirname "$(command -v node)"
  exit 0
fi
dir="${NODE_DIR:-$root/.node}/$version"
if [ ! -x "$dir/bin/node" ]; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "node.sh: no Node.js $version package for $(uname -m)" >&2; exit 1 ;;
  esac
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
  mkdir -p "$dir"
  tar xzf "$work"/node-linux-*.tgz -C "$dir" --strip-components=1 package/bin/node
fi
"$dir/bin/node" --version >/dev/null
echo "$dir/bin"

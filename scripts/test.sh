#!/usr/bin/env bash
# Runs every test of the workspace (unit, property, protocol and end-to-end).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"

#!/usr/bin/env bash
# Runs one cargo-fuzz target for a given time:  scripts/fuzz.sh TARGET SECONDS
# Targets: channel_frames handshake_hello linkage_request mainsel_bodies
# engine_messages peer_control
# (see fuzz/fuzz_targets/). Installs cargo-fuzz if it is missing. Only stable
# Rust is installed, so nightly features are enabled with RUSTC_BOOTSTRAP=1.
# Never part of CI. Crashes land in fuzz/artifacts/TARGET/; each one found
# becomes a regression test next to the parser it broke.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 TARGET SECONDS" >&2
    exit 2
fi
target=$1
seconds=$2
case $seconds in
    ''|*[!0-9]*) echo "SECONDS must be a whole number" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

if ! cargo fuzz --help >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
mkdir -p "corpus/$target"
exec cargo fuzz run "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1

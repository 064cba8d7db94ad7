#!/usr/bin/env bash
# The main job. Until the two-site demo exists, this Bloom-encodes the shipped
# sample patients with the shipped Mainzelliste-style configuration and prints
# the records in the `fields` shape of linkRecord.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release -p sel-node -- encode \
    --config examples/mainzelliste-config.json \
    --input examples/sample-patients.csv

#!/usr/bin/env bash
# The EpiLink 2PC benchmark across an emulated WAN (issue 10):
#
#   sudo bash scripts/bench-wan.sh                  # db 1,000 and 10,000, 1 query, three links
#   sudo bash scripts/bench-wan.sh --dbs 1000 --profiles lan,wan100 --check
#
# The two parties of `epilink-bench` run as two processes (--listen/--connect)
# in two network namespaces joined by a veth pair: party A (the server party,
# N database records) in one, party B (the client party, the query) in the
# other. Link profiles:
#
#   lan     no shaping: B connects straight across the veth;
#   wan700  700 Mbit/s and 60 ms round trip;
#   wan100  100 Mbit/s and 60 ms round trip.
#
# The rate is a `tbf` qdisc on both ends of the veth. The kernel here has no
# `netem`, so the delay comes from `wan-proxy` (wan-proxy/), a userspace TCP
# proxy in B's namespace that holds every chunk for 30 ms in each direction
# in a timestamped queue (a bandwidth-delay product stays in flight) and
# forwards it across the veth to A. `--proxy-rate` paces in the proxy
# instead of tbf (the fallback if tbf misbehaves).
#
# Before the 2PC of each profile, `wan-proxy probe` measures the emulated link
# through the very same path: the median round trip of small ping-pongs and
# the throughput of a bulk transfer each way. A profile whose RTT is more than
# 10 % or whose throughput is more than 15 % off its target is flagged.
#
# Output: one JSON line per probe (kind "link") and per run (kind "run"), then
# a table. Needs root (namespaces, veth, tc), cargo, python3; builds the two
# release binaries. Every namespace and process it made is removed on exit,
# on Ctrl-C and on failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

DBS="1000,10000"
PROFILES="lan,wan700,wan100"
# The 2PC's own profile (epilink-bench --profile): empty = the library defaults.
MPC_PROFILE=""
QUERIES=1
REPS=1
PINGS=50
BULK_MB=64
CHECK=""
PROXY_RATE=0
usage() {
    sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'
    echo "Options: --dbs N,N  --profiles lan,wan700,wan100  --queries M  --reps R"
    echo "         --pings N  --bulk-mb MB  --check  --proxy-rate  --mpc-profile lan|wan"
}
die() {
    echo "bench-wan: $*" >&2
    exit 1
}
while [ $# -gt 0 ]; do
    case $1 in
    --dbs) DBS=${2:?--dbs needs a value} && shift ;;
    --profiles) PROFILES=${2:?--profiles needs a value} && shift ;;
    --queries) QUERIES=${2:?--queries needs a value} && shift ;;
    --reps) REPS=${2:?--reps needs a value} && shift ;;
    --pings) PINGS=${2:?--pings needs a value} && shift ;;
    --bulk-mb) BULK_MB=${2:?--bulk-mb needs a value} && shift ;;
    --check) CHECK="--check" ;;
    --mpc-profile) MPC_PROFILE="--profile ${2:?--mpc-profile needs lan or wan}" && shift ;;
    --proxy-rate) PROXY_RATE=1 ;;
    -h | --help) usage && exit 0 ;;
    *) usage >&2 && exit 2 ;;
    esac
    shift
done

# Profile → "rate_mbit rtt_ms" (0 = unshaped).
profile_params() {
    case $1 in
    lan) echo "0 0" ;;
    wan700) echo "700 60" ;;
    wan100) echo "100 60" ;;
    *) die "unknown profile $1 (use lan, wan700, wan100)" ;;
    esac
}
for p in ${PROFILES//,/ }; do profile_params "$p" >/dev/null; done

# --- root and namespaces -----------------------------------------------------
if [ "$(id -u)" != 0 ]; then
    die "needs root to create network namespaces, a veth pair and tc qdiscs (run with sudo)"
fi
for tool in ip tc python3 cargo; do
    command -v "$tool" >/dev/null || die "needs $tool"
done

NS_A=selwan-a-$$
NS_B=selwan-b-$$
VETH_A=swa$$
VETH_B=swb$$
ADDR_A=10.213.0.1
ADDR_B=10.213.0.2
PORT=7000
PROXY_PORT=7001
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-wan.XXXXXX")
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench-wan: interrupted" >&2; exit 130' INT TERM

if ! ip netns add "$NS_A" 2>"$WORK/netns.err"; then
    die "cannot create network namespaces ($(cat "$WORK/netns.err")); needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN"
fi
ip netns add "$NS_B" || die "cannot create network namespace $NS_B"
ip link add "$VETH_A" type veth peer name "$VETH_B" || die "cannot create a veth pair"
ip link set "$VETH_A" netns "$NS_A"
ip link set "$VETH_B" netns "$NS_B"
ip -n "$NS_A" addr add "$ADDR_A/30" dev "$VETH_A"
ip -n "$NS_B" addr add "$ADDR_B/30" dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do
    ip -n "$ns" link set lo up
    # Room for a bandwidth-delay product (5 MB at 700 Mbit/s × 60 ms) and
    # more in TCP's autotuned buffers; per namespace, the host is untouched.
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_rmem="4096 131072 33554432"
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_wmem="4096 65536 33554432"
done
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up

# --- build -------------------------------------------------------------------
echo "bench-wan: building epilink-bench and wan-proxy (release)" >&2
(cd "$ROOT" && cargo build --release -q -p mpc-core --bin epilink-bench && cargo build --release -q -p wan-proxy) ||
    die "build failed"
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
BENCH=$BIN/epilink-bench
PROXY=$BIN/wan-proxy
[ -x "$BENCH" ] && [ -x "$PROXY" ] || die "binaries not found in $BIN"

# Starts "$@" in the background, remembering its pid for cleanup.
spawn() {
    "$@" &
    PIDS+=($!)
    LAST_PID=$!
}
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
# Waits (up to 60 s) until something listens on $2:$3 inside namespace $1.
wait_listen() {
    local i
    for i in $(seq 600); do
        if ip netns exec "$1" ss -Htln "src $2:$3" 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.1
    done
    die "nothing listens on $2:$3 in $1"
}

# tbf on both veth ends (or none). burst: 4 ms of traffic, at least 128 KB,
# enough for the kernel's timer and for GSO super-packets.
shape_veth() {
    local rate=$1 dev ns burst
    for pair in "$NS_A:$VETH_A" "$NS_B:$VETH_B"; do
        ns=${pair%%:*} dev=${pair#*:}
        tc -n "$ns" qdisc del dev "$dev" root 2>/dev/null || true
        if [ "$rate" != 0 ] && [ "$PROXY_RATE" = 0 ]; then
            burst=$((rate * 1000000 / 8 * 4 / 1000))
            [ "$burst" -ge 131072 ] || burst=131072
            tc -n "$ns" qdisc add dev "$dev" root tbf rate "${rate}mbit" burst "$burst" latency 50ms ||
                die "tc tbf on $dev failed (try --proxy-rate)"
        fi
    done
}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
emit() {
    echo "$1"
    echo "$1" >>"$RESULTS"
}

for profile in ${PROFILES//,/ }; do
    read -r RATE RTT <<<"$(profile_params "$profile")"
    shape_veth "$RATE"
    # The path party B uses to reach party A.
    PROXY_PID=""
    if [ "$RTT" = 0 ]; then
        TARGET=$ADDR_A:$PORT
    else
        proxy_args=(forward --listen "127.0.0.1:$PROXY_PORT" --to "$ADDR_A:$PORT"
            --delay-ms "$(python3 -c "print($RTT / 2)")")
        if [ "$PROXY_RATE" = 1 ]; then proxy_args+=(--rate-mbit "$RATE"); fi
        spawn ip netns exec "$NS_B" "$PROXY" "${proxy_args[@]}"
        PROXY_PID=$LAST_PID
        wait_listen "$NS_B" 127.0.0.1 "$PROXY_PORT"
        TARGET=127.0.0.1:$PROXY_PORT
    fi

    # Check the emulation through that very path.
    spawn ip netns exec "$NS_A" "$PROXY" sink --listen "$ADDR_A:$PORT"
    SINK_PID=$LAST_PID
    wait_listen "$NS_A" "$ADDR_A" "$PORT"
    targets=()
    if [ "$RTT" != 0 ]; then targets+=(--target-rtt-ms "$RTT"); fi
    if [ "$RATE" != 0 ]; then targets+=(--target-mbit "$RATE"); fi
    ip netns exec "$NS_B" "$PROXY" probe --connect "$TARGET" --pings "$PINGS" --bulk-mb "$BULK_MB" \
        "${targets[@]}" >"$WORK/probe.json" || die "probe of $profile failed"
    stop "$SINK_PID"
    LINK=$(python3 - "$profile" "$RATE" "$RTT" "$WORK/probe.json" "$PROXY_RATE" <<'EOF'
import json, sys
profile, rate, rtt, path, proxy_rate = sys.argv[1:]
p = json.load(open(path))
out = {"kind": "link", "profile": profile,
       "rate_mbit": int(rate) or None, "rtt_ms": int(rtt) or None,
       "rate_by": None if rate == "0" else ("wan-proxy" if proxy_rate == "1" else "tbf"),
       "delay_by": None if rtt == "0" else "wan-proxy"}
out.update({k: p[k] for k in ("rtt_ms_median", "rtt_ms_min", "rtt_ms_max", "pings",
                              "up_mbit", "down_mbit", "bulk_mb",
                              "rtt_off_pct", "up_off_pct", "down_off_pct", "ok")})
print(json.dumps(out))
EOF
    )
    emit "$LINK"
    if [ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ok"])' "$LINK")" = False ]; then
        echo "bench-wan: WARNING: the $profile emulation is off target (RTT > 10 % or throughput > 15 %); its figures below are suspect" >&2
    fi

    for db in ${DBS//,/ }; do
        for rep in $(seq "$REPS"); do
            spawn ip netns exec "$NS_A" "$BENCH" --db "$db" --queries "$QUERIES" $CHECK $MPC_PROFILE \
                --listen "$ADDR_A:$PORT" >"$WORK/server.json" 2>"$WORK/server.err"
            SERVER_PID=$LAST_PID
            # The proxy accepts before it dials A: start B only once A listens.
            wait_listen "$NS_A" "$ADDR_A" "$PORT"
            if ! ip netns exec "$NS_B" "$BENCH" --db "$db" --queries "$QUERIES" $CHECK $MPC_PROFILE \
                --connect "$TARGET" >"$WORK/client.json" 2>"$WORK/client.err"; then
                cat "$WORK/client.err" "$WORK/server.err" >&2
                die "epilink-bench failed ($profile, db $db)"
            fi
            wait "$SERVER_PID" || {
                cat "$WORK/server.err" >&2
                die "epilink-bench server party failed ($profile, db $db)"
            }
            RUN=$(python3 - "$profile" "$RATE" "$RTT" "$LINK" "$WORK/client.json" "$rep" <<'EOF'
import json, sys
profile, rate, rtt, link, path, rep = sys.argv[1:]
link = json.loads(link)
b = json.loads(open(path).read().strip().splitlines()[-1])
out = {"kind": "run", "profile": profile, "rate_mbit": int(rate) or None, "rtt_ms": int(rtt) or None,
       "measured_rtt_ms": link["rtt_ms_median"],
       "measured_up_mbit": link["up_mbit"], "measured_down_mbit": link["down_mbit"],
       "emulation_ok": link["ok"], "rep": int(rep)}
out.update({k: b[k] for k in ("db", "queries", "seconds", "bytes", "rounds",
                              "client_bytes_sent", "server_bytes_sent", "messages")})
# First-order model terms: every byte (both directions) at the target rate;
# a full RTT per round (issue 12's estimate) and half of one (a round whose
# two flights cross, as GMW layers do, costs one one-way delay).
if int(rate):
    out["model_transfer_s"] = round(b["bytes"] * 8 / (int(rate) * 1e6), 1)
if int(rtt):
    out["model_rounds_rtt_s"] = round(b["rounds"] * int(rtt) / 1000, 1)
    out["model_rounds_half_rtt_s"] = round(b["rounds"] * int(rtt) / 2000, 1)
print(json.dumps(out))
EOF
            )
            emit "$RUN"
            if [ -n "$CHECK" ]; then grep -h "check:" "$WORK/client.err" >&2 || true; fi
        done
    done
    if [ -n "$PROXY_PID" ]; then stop "$PROXY_PID"; fi
done

python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def f(x, spec):
    return "—" if x is None else format(x, spec)
print()
print("Emulation check (median RTT of small ping-pongs; bulk throughput each way):")
print(f"{'profile':<8} {'target':>20} {'RTT ms':>8} {'up Mbit/s':>10} {'down Mbit/s':>12}  ok")
for r in rows:
    if r["kind"] != "link":
        continue
    target = "unshaped" if r["rate_mbit"] is None else f"{r['rate_mbit']} Mbit/s, {r['rtt_ms']} ms"
    ok = "—" if r["ok"] is None else ("yes" if r["ok"] else "NO")
    print(f"{r['profile']:<8} {target:>20} {r['rtt_ms_median']:>8.2f} {r['up_mbit']:>10.1f} {r['down_mbit']:>12.1f}  {ok}")
print()
print("EpiLink 2PC (epilink-bench, one query; seconds from connection to result, longer party):")
print(f"{'profile':<8} {'db':>7} {'seconds':>8} {'MB':>8} {'rounds':>7} {'bytes/rate s':>13} {'rounds×RTT/2 s':>15} {'rounds×RTT s':>13}")
for r in rows:
    if r["kind"] != "run":
        continue
    print(f"{r['profile']:<8} {r['db']:>7,} {r['seconds']:>8.2f} {r['bytes']/1e6:>8.1f} {r['rounds']:>7}"
          f" {f(r.get('model_transfer_s'), '.1f'):>13} {f(r.get('model_rounds_half_rtt_s'), '.1f'):>15}"
          f" {f(r.get('model_rounds_rtt_s'), '.1f'):>13}")
EOF

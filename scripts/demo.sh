#!/usr/bin/env bash
# The two-site demo on loopback, in one command:
#
#   bash scripts/demo.sh            # 100 patients at A linked against 1,500 at B
#   bash scripts/demo.sh --small    # a quick run (a few hundred)
#   bash scripts/demo.sh --keep     # leave the federation running afterwards
#   bash scripts/demo.sh --sizes 500,800,100   # patients at A, at B, at both
#
# It builds the release binaries, then starts on 127.0.0.1: a local CA and
# certificates, the linkage service (both sites registered), two registries
# holding synthetic patients of which a known part is at both sites (with
# typos, swapped names, missing birth names, moved postcodes), and two nodes,
# all over verified TLS. It runs initLocal, initRemote, test and testLS,
# triggers linkMN and matchMN from registry A, shows each job's progress,
# and ends with a summary: records linked, matches, tentative matches, time
# and bytes of the 2PC, and how the LIDs compare with the known overlap.
#
# Every process it started is stopped on exit, on Ctrl-C and on failure
# (unless --keep and all went well). Exit status 0 only if every step
# succeeded. Needs: cargo, curl, python3. SEL_DEMO_BIN_DIR=DIR skips the
# build and runs the binaries in DIR; SEL_DEMO_SEED and SEL_DEMO_JOB_LIMIT
# (seconds) change the data and the wait.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/federation.sh
source "$ROOT/scripts/lib/federation.sh"

KEEP=0
SIZE_A=100 SIZE_B=1500 OVERLAP=50
SEED=${SEL_DEMO_SEED:-42}
JOB_LIMIT=${SEL_DEMO_JOB_LIMIT:-3600}
while [ $# -gt 0 ]; do
    case $1 in
    --keep) KEEP=1 ;;
    --small) SIZE_A=200 SIZE_B=250 OVERLAP=60 ;;
    --sizes)
        [ $# -ge 2 ] || fed_die "--sizes needs A,B,OVERLAP"
        IFS=, read -r SIZE_A SIZE_B OVERLAP <<<"$2"
        shift
        ;;
    -h | --help)
        sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) fed_die "unknown argument $1 (try --help)" ;;
    esac
    shift
done
for tool in cargo curl python3; do
    command -v "$tool" >/dev/null || fed_die "$tool is needed"
done

FED_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sel-demo.XXXXXX")
FED_CA="$FED_DIR/ca/ca.pem"
: >"$FED_DIR/pids"
DONE_OK=0

on_exit() {
    local rc=$?
    printf '\n'
    if [ "$KEEP" = 1 ] && [ "$DONE_OK" = 1 ]; then
        return
    fi
    if [ "${#FED_PIDS[@]}" -gt 0 ]; then
        fed_say "stopping ${#FED_PIDS[@]} processes"
        fed_stop_all
    fi
    if [ "$rc" != 0 ]; then
        echo "demo failed (exit $rc); logs and data kept in $FED_DIR" >&2
    else
        rm -rf "$FED_DIR"
    fi
}
trap on_exit EXIT
trap 'echo; echo "interrupted" >&2; exit 130' INT TERM

# --- build -----------------------------------------------------------------
# SEL_DEMO_BIN_DIR=DIR uses binaries built elsewhere (e.g. target/debug)
# instead of building release ones.
if [ -n "${SEL_DEMO_BIN_DIR:-}" ]; then
    BIN=$(cd "$SEL_DEMO_BIN_DIR" && pwd)
else
    fed_say "building release binaries (first run takes a few minutes)"
    (cd "$ROOT" && cargo build --release --quiet -p sel-node -p linkage-service -p e2e-tests --bins)
    BIN="$ROOT/target/release"
fi
SEL="$BIN/sel-node"
LS="$BIN/linkage-service"

# --- data ------------------------------------------------------------------
fed_say "synthetic patients: $SIZE_A at site A, $SIZE_B at site B, $OVERLAP at both"
python3 "$ROOT/scripts/synth_patients.py" --a "$SIZE_A" --b "$SIZE_B" --overlap "$OVERLAP" \
    --seed "$SEED" --out "$FED_DIR/data" 2>/dev/null

# --- CA and certificates ---------------------------------------------------
fed_say "local CA and certificates"
"$SEL" ca init --dir "$FED_DIR/ca" >/dev/null
for name in ls node-a node-b registry-a registry-b; do
    "$SEL" ca issue "$name" --dir "$FED_DIR/ca" >/dev/null
done

# --- ports, keys -----------------------------------------------------------
read -r LS_PORT A_API A_PEER A_REG B_API B_PEER B_REG <<<"$(fed_free_ports 7 | tr '\n' ' ')"
LS_URL="https://127.0.0.1:$LS_PORT"
umask 077
secret() { head -c 24 /dev/urandom | base64 | tr '+/' '-_'; }
for s in a b; do
    secret >"$FED_DIR/registry-$s.apikey"
    secret >"$FED_DIR/node-$s.localkey"
    head -c 32 /dev/urandom | base64 >"$FED_DIR/node-$s.key"
done
PAIR_KEY=$(secret)
umask 022
A_LOCAL=$(cat "$FED_DIR/node-a.localkey") B_LOCAL=$(cat "$FED_DIR/node-b.localkey")
A_REGKEY=$(cat "$FED_DIR/registry-a.apikey")

# --- linkage service -------------------------------------------------------
fed_say "linkage service on $LS_URL (sites SITE_A and SITE_B registered)"
"$LS" init-master-key --out "$FED_DIR/ls-master.key" 2>/dev/null
for site in SITE_A SITE_B; do
    (umask 077 && "$LS" register "$site" --data-dir "$FED_DIR/ls" \
        --master-key-file "$FED_DIR/ls-master.key" >"$FED_DIR/ls-$site.json" 2>/dev/null)
    (umask 077 && fed_json "$FED_DIR/ls-$site.json" 'd["apiKey"]' >"$FED_DIR/ls-$site.apikey" &&
        fed_json "$FED_DIR/ls-$site.json" 'd["lidKey"]' >"$FED_DIR/ls-$site.lidkey")
done
fed_start linkage-service "$FED_DIR/linkage-service.log" \
    "$LS" serve --listen "127.0.0.1:$LS_PORT" --data-dir "$FED_DIR/ls" \
    --master-key-file "$FED_DIR/ls-master.key" \
    --tls-cert "$FED_DIR/ca/ls.pem" --tls-key "$FED_DIR/ca/ls.key"

# --- registries ------------------------------------------------------------
for s in a b; do
    S=$(echo "$s" | tr a-z A-Z)
    reg_port_var="${S}_REG" api_port_var="${S}_API"
    fed_say "registry $S on https://127.0.0.1:${!reg_port_var}: importing its patients"
    "$SEL" registry import --data-dir "$FED_DIR/registry-$s" \
        --config "$ROOT/examples/mainzelliste-config.json" \
        --input "$FED_DIR/data/site-$s.csv" 2>&1 | sed "s/^/    /"
    fed_start "registry-$s" "$FED_DIR/registry-$s.log" \
        "$SEL" registry serve --data-dir "$FED_DIR/registry-$s" \
        --listen "127.0.0.1:${!reg_port_var}" --site-id "SITE_$S" \
        --api-key-file "$FED_DIR/registry-$s.apikey" \
        --node-url "https://127.0.0.1:${!api_port_var}" \
        --node-key-file "$FED_DIR/node-$s.localkey" \
        --tls-cert "$FED_DIR/ca/registry-$s.pem" --tls-key "$FED_DIR/ca/registry-$s.key" \
        --ca-bundle "$FED_CA"
done

# --- nodes -----------------------------------------------------------------
start_node() {
    local s=$1 S api peer
    S=$(echo "$s" | tr a-z A-Z)
    api="${S}_API" peer="${S}_PEER"
    fed_start "node-$s" "$FED_DIR/node-$s.log" \
        "$SEL" serve --api-listen "127.0.0.1:${!api}" --peer-listen "127.0.0.1:${!peer}" \
        --data-dir "$FED_DIR/node-$s" --node-key-file "$FED_DIR/node-$s.key" \
        --tls-cert "$FED_DIR/ca/node-$s.pem" --tls-key "$FED_DIR/ca/node-$s.key" \
        --ca-bundle "$FED_CA"
}
fed_say "nodes: A on https://127.0.0.1:$A_API (peer $A_PEER), B on https://127.0.0.1:$B_API (peer $B_PEER)"
start_node a
start_node b

fed_wait_healthy linkage-service "$LS_URL/health"
fed_wait_healthy registry-a "https://127.0.0.1:$A_REG/health"
fed_wait_healthy registry-b "https://127.0.0.1:$B_REG/health"
fed_wait_healthy node-a "https://127.0.0.1:$A_API/health"
fed_wait_healthy node-b "https://127.0.0.1:$B_API/health"

# --- configuration ---------------------------------------------------------
init_local() { # site-letter local-key registry-port
    local S body
    S=$(echo "$1" | tr a-z A-Z)
    body=$(python3 - "$S" "$2" "$3" "$ROOT/examples/mainzelliste-config.json" <<'PY'
import json, sys
site, key, reg, cfg = sys.argv[1:]
print(json.dumps({
    "localId": "SITE_" + site,
    "localAuthentication": {"authType": "apiKey", "sharedKey": key},
    "dataService": {"url": "https://127.0.0.1:%s/getAllRecords" % reg, "pageSize": 1000},
    "algorithm": json.load(open(cfg)),
}))
PY
)
    fed_call 204 PUT "https://127.0.0.1:$4/initLocal" "" "$body" >/dev/null
}
init_remote() { # api-port local-key remote-id remote-peer-port ls-key
    local body
    body=$(python3 - "$4" "$PAIR_KEY" "$LS_URL" "$5" <<'PY'
import json, sys
peer, pair, ls, lskey = sys.argv[1:]
print(json.dumps({
    "connectionProfile": {"url": "https://127.0.0.1:%s" % peer,
                          "authentication": {"authType": "apiKey", "sharedKey": pair}},
    "linkageService": {"url": ls, "authentication": {"authType": "apiKey", "sharedKey": lskey}},
    "matchingAllowed": True,
}))
PY
)
    fed_call 204 PUT "https://127.0.0.1:$1/initRemote/$3" "$2" "$body" >/dev/null
}
fed_say "initLocal (data service = the site's registry), initRemote both ways"
init_local a "$A_LOCAL" "$A_REG" "$A_API"
init_local b "$B_LOCAL" "$B_REG" "$B_API"
init_remote "$A_API" "$A_LOCAL" SITE_B "$B_PEER" "$(cat "$FED_DIR/ls-SITE_A.apikey")"
init_remote "$B_API" "$B_LOCAL" SITE_A "$A_PEER" "$(cat "$FED_DIR/ls-SITE_B.apikey")"
fed_say "test and testLS"
fed_note "A → B: $(fed_call 200 GET "https://127.0.0.1:$A_API/test/SITE_B" "$A_LOCAL"); $(fed_call 200 GET "https://127.0.0.1:$A_API/testLS/SITE_B" "$A_LOCAL")"
fed_note "B → A: $(fed_call 200 GET "https://127.0.0.1:$B_API/test/SITE_A" "$B_LOCAL"); $(fed_call 200 GET "https://127.0.0.1:$B_API/testLS/SITE_A" "$B_LOCAL")"
fed_say "status pages (the browser must trust $FED_CA; the key is in the fragment, never sent to the node)"
fed_note "A: https://127.0.0.1:$A_API/status#key=$A_LOCAL"
fed_note "B: https://127.0.0.1:$B_API/status#key=$B_LOCAL"

# --- the jobs --------------------------------------------------------------
fed_say "registry A triggers linkMN and matchMN towards SITE_B"
START=$(date +%s.%N)
LINK_JOB=$(fed_call 202 POST "https://127.0.0.1:$A_REG/Communicator/linkMN/trigger/SITE_B" "$A_REGKEY" |
    fed_json - 'd["job"]')
MATCH_JOB=$(fed_call 202 POST "https://127.0.0.1:$A_REG/Communicator/matchMN/trigger/SITE_B" "$A_REGKEY" |
    fed_json - 'd["job"]')
[ -n "$LINK_JOB" ] && [ -n "$MATCH_JOB" ] || fed_die "a trigger named no job"

job_json() { fed_call 200 GET "https://127.0.0.1:$A_API$1?format=json" "$A_LOCAL"; }
describe() { # job json → "STATUS NN"
    fed_json - 'd["status"] + " " + str(d["progress_percent"])'
}
waited=0
while :; do
    link_now=$(job_json "$LINK_JOB")
    match_now=$(job_json "$MATCH_JOB")
    read -r lstat lp <<<"$(echo "$link_now" | describe)"
    read -r mstat mp <<<"$(echo "$match_now" | describe)"
    printf '\r    linkMN  %s %3s%% %-8s   matchMN %s %3s%% %-8s' \
        "$(fed_bar "$lp")" "$lp" "$lstat" "$(fed_bar "$mp")" "$mp" "$mstat"
    case "$lstat/$mstat" in
    DONE/DONE) break ;;
    FAULT/* | */FAULT)
        printf '\n'
        fed_die "a job failed: linkMN: $(echo "$link_now" | fed_json - 'd["error"]'); matchMN: $(echo "$match_now" | fed_json - 'd["error"]')"
        ;;
    esac
    for n in node-a node-b registry-a registry-b linkage-service; do
        fed_alive "$n" || fed_die "$n exited (log: $FED_DIR/$n.log)"
    done
    sleep 0.5
    waited=$((waited + 1))
    [ "$waited" -lt $((JOB_LIMIT * 2)) ] || fed_die "the jobs did not finish within ${JOB_LIMIT}s"
done
printf '\n'
# The callbacks reach the registry just after DONE.
status_of() { fed_call 200 GET "https://127.0.0.1:$A_REG/Communicator/$1/status/SITE_B" "$A_REGKEY"; }
for _ in $(seq 1 120); do
    LINK_STATUS=$(status_of linkMN)
    MATCH_STATUS=$(status_of matchMN)
    if [ -n "$(echo "$LINK_STATUS" | fed_json - 'd.get("callbackReceived")')" ] &&
        [ -n "$(echo "$MATCH_STATUS" | fed_json - 'd.get("callbackReceived")')" ]; then
        break
    fi
    sleep 0.5
done
for st in "$LINK_STATUS" "$MATCH_STATUS"; do
    err=$(echo "$st" | fed_json - 'd.get("callbackError") or d.get("submitError")')
    [ -z "$err" ] || fed_die "registry A: $err"
    [ -n "$(echo "$st" | fed_json - 'd.get("callbackReceived")')" ] || fed_die "registry A received no callback"
done
ELAPSED=$(python3 -c "import time; print('%.1f' % (time.time() - $START))")

# --- summary ---------------------------------------------------------------
LINKED=$(echo "$LINK_STATUS" | fed_json - 'd["lidsReceived"]')
MATCHES=$(echo "$MATCH_STATUS" | fed_json - 'd["result"]["matches"]')
TENTATIVE=$(echo "$MATCH_STATUS" | fed_json - 'd["result"]["tentativeMatches"]')
job_seconds() {
    job_json "$1" | fed_json - '"%.1f" % ((d["finished"] - d["started"]) / 1000) if d.get("started") and d.get("finished") else "?"'
}
LINK_SECS=$(job_seconds "$LINK_JOB")
MATCH_SECS=$(job_seconds "$MATCH_JOB")
MPC_FIGURES=$(fed_call 200 GET "https://127.0.0.1:$A_API/metrics" "$A_LOCAL" | python3 -c '
import sys
m = {}
for line in sys.stdin:
    if not line.startswith("#") and line.strip():
        name, value = line.rsplit(None, 1)
        m[name] = float(value)
sent = m.get("sel_node_peer_bytes_sent_total", 0)
received = m.get("sel_node_peer_bytes_received_total", 0)
mpc = m.get("sel_node_mpc_duration_seconds_sum", 0)
parts = []
parts.append("2PC %.1fs (summed over the jobs)" % mpc if mpc else "2PC time not reported")
parts.append("%.1f MB sent, %.1f MB received" % (sent / 1e6, received / 1e6)
             if sent or received else "peer bytes not reported")
print(", ".join(parts))')

# How A's LIDs compare with the truth: node B's LIDs live in its sealed
# store, read with lid-check while node B is stopped.
"$SEL" registry export --data-dir "$FED_DIR/registry-a" --remote SITE_B --out "$FED_DIR/lids-a.csv"
fed_stop node-b
CHECK=$("$BIN/lid-check" --node-dir "$FED_DIR/node-b" --node-key-file "$FED_DIR/node-b.key" \
    --ls-url "$LS_URL" --lid-key-a-file "$FED_DIR/ls-SITE_A.lidkey" \
    --lid-key-b-file "$FED_DIR/ls-SITE_B.lidkey" --lids-a "$FED_DIR/lids-a.csv" \
    --patients-b "$FED_DIR/data/site-b.csv" --truth "$FED_DIR/data/truth.csv")

cat <<EOF

  ┌─ summary ───────────────────────────────────────────────────────────
  │ site A: $SIZE_A patients   site B: $SIZE_B patients   known overlap: $OVERLAP
  │ linkMN:  $LINKED records linked in ${LINK_SECS}s (job start to finish)
  │ matchMN: $MATCHES matches, $TENTATIVE tentative (matches included) in ${MATCH_SECS}s
  │ node A, both jobs: $MPC_FIGURES
  │ wall time from the triggers to the last callback: ${ELAPSED}s
  │ against the known overlap (A's LID = node B's LID of the partner):
  │   found $(echo "$CHECK" | fed_json - 'd["found"]') of $(echo "$CHECK" | fed_json - 'd["true_pairs"]'), missed $(echo "$CHECK" | fed_json - 'd["missed"]'), wrongly linked $(echo "$CHECK" | fed_json - 'd["wrongly_linked"]'), fresh LIDs $(echo "$CHECK" | fed_json - 'd["fresh"]')
  └─────────────────────────────────────────────────────────────────────
EOF

if [ "$KEEP" = 1 ]; then
    start_node b
    fed_wait_healthy node-b "https://127.0.0.1:$B_API/health"
    DONE_OK=1
    cat <<EOF
The federation keeps running (data and logs in $FED_DIR). Try:

  curl --cacert $FED_CA -H 'Authorization: apiKey apiKey="$A_LOCAL"' https://127.0.0.1:$A_API/jobs/list
  curl --cacert $FED_CA -H 'Authorization: apiKey apiKey="$A_LOCAL"' 'https://127.0.0.1:$A_API$LINK_JOB?format=json'
  curl --cacert $FED_CA -H 'Authorization: apiKey apiKey="$A_LOCAL"' https://127.0.0.1:$A_API/metrics
  curl --cacert $FED_CA -H 'Authorization: apiKey apiKey="$A_REGKEY"' -X POST https://127.0.0.1:$A_REG/Communicator/matchMN/trigger/SITE_B
  curl --cacert $FED_CA -H 'Authorization: apiKey apiKey="$A_REGKEY"' https://127.0.0.1:$A_REG/Communicator/matchMN/status/SITE_B
  $SEL registry export --data-dir $FED_DIR/registry-a --remote SITE_B
  status pages: https://127.0.0.1:$A_API/status#key=$A_LOCAL  https://127.0.0.1:$B_API/status#key=$B_LOCAL

Stop it with:  kill \$(cut -d' ' -f1 $FED_DIR/pids)
EOF
    exit 0
fi
DONE_OK=1

# Shell helpers for scripts that run a federation on loopback (demo.sh).
# Source it; it defines functions only. Needs bash, curl and python3.
#
# Conventions: every process started with `fed_start` is remembered in
# FED_PIDS (and in $FED_DIR/pids) so `fed_stop_all` can stop exactly those;
# every HTTPS call verifies against $FED_CA (the local CA), never -k.

FED_PIDS=()

fed_say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
fed_note() { printf '    %s\n' "$*"; }
fed_die() {
    printf '\033[31merror:\033[0m %s\n' "$*" >&2
    exit 1
}

# fed_free_ports N: N distinct loopback ports that were free a moment ago,
# one per line (the processes need their ports on the command line, as each
# must know the others' URLs; all N are held at once so none repeats).
fed_free_ports() {
    python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
' "$1"
}

# fed_json FILE_OR_- EXPR: prints a value of a JSON document, EXPR a Python
# expression over `d` (e.g. 'd["apiKey"]'); empty output for null/missing.
fed_json() {
    # The program is an argument, not a here-document: stdin may be the
    # document.
    python3 -c '
import json, sys
src, expr = sys.argv[1], sys.argv[2]
text = sys.stdin.read() if src == "-" else open(src).read()
try:
    v = eval(expr, {"d": json.loads(text)})
except Exception:
    v = None
if v is None:
    print("")
elif isinstance(v, (dict, list)):
    print(json.dumps(v))
elif isinstance(v, bool):
    print("true" if v else "false")
else:
    print(v)
' "$1" "$2"
}

# fed_start NAME LOGFILE CMD...: starts CMD in the background, output to
# LOGFILE; remembers its pid.
fed_start() {
    local name=$1 log=$2
    shift 2
    "$@" >>"$log" 2>&1 &
    local pid=$!
    FED_PIDS+=("$pid")
    echo "$pid $name" >>"$FED_DIR/pids"
    eval "FED_PID_${name//-/_}=$pid"
}

# fed_pid NAME: the pid fed_start remembered for NAME.
fed_pid() {
    local var="FED_PID_${1//-/_}"
    echo "${!var:-}"
}

# fed_stop NAME: stops one process started by fed_start and waits for it.
fed_stop() {
    local pid
    pid=$(fed_pid "$1")
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local kept=()
    for p in "${FED_PIDS[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
    FED_PIDS=("${kept[@]}")
    sed -i "/^$pid /d" "$FED_DIR/pids"
}

# Stops every process fed_start started (only those, by pid).
fed_stop_all() {
    local pid
    for pid in "${FED_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${FED_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    FED_PIDS=()
}

# fed_alive NAME: fails if the process has exited.
fed_alive() {
    local pid
    pid=$(fed_pid "$1")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# fed_wait_healthy NAME URL [SECONDS]: waits for `GET URL` to answer 200;
# fails early (with the log's tail) when the process died.
fed_wait_healthy() {
    local name=$1 url=$2 limit=${3:-60} waited=0
    while :; do
        if ! fed_alive "$name"; then
            tail -n 20 "$FED_DIR/$name.log" >&2 || true
            fed_die "$name exited (log: $FED_DIR/$name.log)"
        fi
        if curl -fsS --cacert "$FED_CA" -o /dev/null "$url" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
        waited=$((waited + 1))
        if [ "$waited" -ge $((limit * 5)) ]; then
            tail -n 20 "$FED_DIR/$name.log" >&2 || true
            fed_die "$name did not answer $url within ${limit}s"
        fi
    done
}

# fed_call WANT METHOD URL KEY [BODY]: an HTTPS request with the apiKey
# header (no header when KEY is empty); the body goes to stdout. Fails with
# the answer when the status is not WANT.
fed_call() {
    local want=$1 method=$2 url=$3 key=$4 body=${5:-}
    local out status args=(-sS --cacert "$FED_CA" -X "$method" -o "$FED_DIR/.answer" -w '%{http_code}')
    [ -n "$key" ] && args+=(-H "Authorization: apiKey apiKey=\"$key\"")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    status=$(curl "${args[@]}" "$url") || fed_die "$method $url: no answer"
    out=$(cat "$FED_DIR/.answer")
    if [ "$status" != "$want" ]; then
        fed_die "$method $url answered $status (expected $want): $out"
    fi
    printf '%s' "$out"
}

# fed_bar PERCENT WIDTH: a text progress bar.
fed_bar() {
    local p=${1:-0} w=${2:-20} n
    n=$((p * w / 100))
    printf '['
    printf '%*s' "$n" '' | tr ' ' '#'
    printf '%*s' $((w - n)) '' | tr ' ' '.'
    printf ']'
}

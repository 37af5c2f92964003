#!/usr/bin/env bash
# Profiles the release server under concurrent TOTP reveals with `perf`: starts
# `keyward serve` on a fresh SQLite file (or, with DATABASE=postgres, a fresh PostgreSQL
# database on 127.0.0.1:5432), drives it with wrk (CONNECTIONS
# connections for DURATION seconds, one service token), records call graphs of the server
# process only, and prints the top entries by own time and the server's CPU per reveal.
#
#   bench/profile.sh                      # after `cargo build --release -p keyward`
#   CONNECTIONS=64 DURATION=20 bench/profile.sh
#   PERF_DATA=/tmp/reveal.perf bench/profile.sh   # keep the recording for `perf report -i`
#   DATABASE=postgres bench/profile.sh    # also prints PostgreSQL's own CPU per reveal
#   make profile                          # installs perf and wrk, builds, runs this
#
# Needs perf (Debian's linux-perf) and wrk (Debian's wrk); run as root, or with
# kernel.perf_event_paranoid <= 1. Where hardware counters are missing (virtual machines),
# perf samples with the software clock (cpu-clock).
set -euo pipefail

KEYWARD=${KEYWARD:-target/release/keyward}
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-15}
TOP=${TOP:-25}
for tool in perf wrk curl "$KEYWARD"; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (see the comment at the top)"; exit 1; }
done

dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ "${DATABASE:-sqlite}" = postgres ]; then
  pgdb="kw_profile_$$"
  psql -qX -h 127.0.0.1 -U postgres -c "CREATE DATABASE $pgdb" postgres
  trap 'kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; psql -qX -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $pgdb WITH (FORCE)" postgres' EXIT
  export KEYWARD_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$pgdb"
else
  export KEYWARD_DATABASE_URL="sqlite://$dir/profile.db?mode=rwc"
fi
export KEYWARD_KEY_FILE="$dir/keys.json"
export KEYWARD_LISTEN="127.0.0.1:$port"
export KEYWARD_LOG__LEVEL=warn
export KEYWARD_LIMITS__REVEALS_PER_MINUTE=1000000000
export KEYWARD_LIMITS__REVEALS_PER_HOUR=1000000000
"$KEYWARD" keys init --key-file "$KEYWARD_KEY_FILE" >/dev/null
"$KEYWARD" migrate >/dev/null
"$KEYWARD" serve --no-migrate >/dev/null &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done
token=$("$KEYWARD" token create --name profile --role manager --team marketing | tail -1 | tr -d '[:space:]')
account=$(curl -fs -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"team":"marketing","platform":"x","handle":"@profile"}' "$base/api/v1/accounts" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -fs -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"secret":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}' "$base/api/v1/accounts/$account/totp" >/dev/null

cat >"$dir/reveal.lua" <<EOF
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
done = function(summary, latency, requests)
  io.write(string.format("requests=%d non2xx=%d\n", summary.requests,
    (summary.errors.status or 0)))
end
EOF
url="$base/api/v1/accounts/$account/totp/code"
echo "warming up…" >&2
wrk -t2 -c"$CONNECTIONS" -d3s -s "$dir/reveal.lua" "$url" >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
# PostgreSQL's own CPU (every postgres process: the backends, the WAL writer, …).
pg_ticks() {
  for p in $(pgrep -x postgres || true); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done |
    awk '{n += $1} END {print n + 0}'
}
switches() { cat /proc/"$server"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}'; }
# Per thread: "name<TAB>cpu ticks<TAB>switches", one line each, to split the CPU by kind.
threads() {
  python3 - "$server" <<'PY'
import glob, sys
for task in glob.glob(f"/proc/{sys.argv[1]}/task/*"):
    try:
        name = open(f"{task}/comm").read().strip()
        stat = open(f"{task}/stat").read().rsplit(")", 1)[1].split()
        status = open(f"{task}/status").read().splitlines()
    except OSError:
        continue
    sw = sum(int(l.split()[1]) for l in status if "ctxt_switches" in l)
    print(f"{task.rsplit('/', 1)[1]}\t{name}\t{int(stat[11]) + int(stat[12])}\t{sw}")
PY
}
threads >"$dir/threads.before"
before=$(ticks)
pg_before=$(pg_ticks)
switched=$(switches)
perf record -q ${PERF_CALL_GRAPH:--g} -F 999 -o "$dir/perf.data" -p "$server" -- sleep "$DURATION" 2>/dev/null &
recorder=$!
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$dir/reveal.lua" --latency "$url" | tee "$dir/wrk.txt"
wait "$recorder" || true
[ -z "${PERF_DATA:-}" ] || cp "$dir/perf.data" "$PERF_DATA"
after=$(ticks)
pg_after=$(pg_ticks)
threads >"$dir/threads.after"
switched=$(( $(switches) - switched ))
requests=$(sed -n 's/^requests=\([0-9]*\).*/\1/p' "$dir/wrk.txt")
python3 -c "print(f'server CPU per reveal: {($after - $before) * 10000 / $requests:.0f} µs, \
{$switched / $requests:.1f} thread switches per reveal ({$requests} reveals, perf attached)')"
[ "${DATABASE:-sqlite}" != postgres ] ||
  python3 -c "print(f'PostgreSQL CPU per reveal: {($pg_after - $pg_before) * 10000 / $requests:.0f} µs')"
echo "threads: $(ls /proc/$server/task | wc -l); CPU and thread switches per reveal by thread kind:"
python3 - "$dir/threads.before" "$dir/threads.after" "$requests" <<'PY'
import re, sys
def load(path):
    return {l.split("\t")[0]: l.rstrip("\n").split("\t")[1:] for l in open(path)}
before, after, n = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3])
kinds = {}
for tid, (name, ticks, sw) in after.items():
    _, t0, s0 = before.get(tid, (name, 0, 0))
    kind = re.sub(r"[-_ ]?\d+$", "", name)
    k = kinds.setdefault(kind, [0, 0, 0])
    k[0] += 1; k[1] += int(ticks) - int(t0); k[2] += int(sw) - int(s0)
for kind, (count, ticks, sw) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
    print(f"  {kind:<18} {count:>2} threads  {ticks * 10000 / n:7.0f} µs  {sw / n:5.1f} switches")
PY
set +o pipefail # head closes the pipes early
echo
echo "Top $TOP by own time (perf report --no-children --sort dso,symbol):"
perf report -i "$dir/perf.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
  grep -E '^ +[0-9]' | sed -E 's/[[:space:]-]+$//' | head -n "$TOP"
echo
echo "By shared object:"
perf report -i "$dir/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
  grep -E '^ +[0-9]' | sed -E 's/[[:space:]-]+$//' | head -n 8

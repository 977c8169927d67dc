#!/usr/bin/env bash
# The compose topology without Docker: Redis, PostgreSQL and two gateway nodes (node-a, node-b) sharing
# them, each on a free loopback port, in one temporary directory. Runs in the foreground until it gets
# SIGINT or SIGTERM, then stops everything it started and removes the directory.
#
#   deploy/local-cluster.sh [--dir DIR] [--dist] [--keep]
#
#   --dir DIR  put the data, the logs and cluster.env in DIR (default: a new temporary directory)
#   --dist     run the built gateway (dist/cli/bin.js; `npm run build` first) instead of the sources
#   --keep     leave DIR behind on exit (logs, the SQLite mirrors)
#
# When all four answer, DIR/cluster.env is written (shell syntax, also read by the integration tests):
# the URLs and process ids of node-a, node-b, Redis and PostgreSQL, the cluster secret and the binaries.
# Other environment variables are handed to both gateways as they are (PROVIDERS, VAD_ENGINE, keys...);
# the ones this script sets per node are PORT, HOST, PUBLIC_URL, NODE_ID, NODE_URL, REDIS_URL,
# DATABASE_URL, CALL_RECORD_PATH and, unless set, CLUSTER_SECRET. Each node's PUBLIC_URL is its own
# address: there is no load balancer, so a client picks the node (webhook on A, media on B).
#
# Needs redis-server and PostgreSQL's initdb/pg_ctl (Debian: redis-server, postgresql); override the
# paths with REDIS_SERVER and PG_BIN. As root, PostgreSQL runs as the `postgres` user, as it must.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir=""
use_dist=0
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --dist) use_dist=1; shift ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "local-cluster: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

redis_server="${REDIS_SERVER:-$(command -v redis-server || true)}"
pg_bin="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}"
[ -x "$redis_server" ] || { echo "local-cluster: redis-server not found (install redis-server or set REDIS_SERVER)" >&2; exit 1; }
[ -x "$pg_bin/initdb" ] || { echo "local-cluster: PostgreSQL's initdb not found (install postgresql or set PG_BIN)" >&2; exit 1; }

if [ -z "$dir" ]; then dir="$(mktemp -d "${TMPDIR:-/tmp}/vg-cluster-XXXXXX")"; else mkdir -p "$dir"; fi
dir="$(cd "$dir" && pwd)"

# PostgreSQL refuses to run as root.
as_pg=()
if [ "$(id -u)" = 0 ]; then
  id -u postgres >/dev/null 2>&1 || { echo "local-cluster: running as root and there is no postgres user" >&2; exit 1; }
  as_pg=(runuser -u postgres --)
fi

free_port() {
  node -e "const s=require('node:net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})"
}

# Polls until `check` succeeds, or fails naming `what` (and the log to read).
wait_for() {
  local what="$1" log="$2" tries=300
  shift 2
  until "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    if [ "$tries" -le 0 ]; then
      echo "local-cluster: $what did not come up; the end of $log:" >&2
      tail -n 20 "$log" >&2 || true
      exit 1
    fi
    sleep 0.1
  done
}

pids=()
pg_data="$dir/pg/data"
stopping=0
stop_all() {
  [ "$stopping" = 1 ] && return
  stopping=1
  # A second signal must not cut the clean-up short.
  trap '' INT TERM
  # Gateways first (they drain), then the stores they write to.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -f "$pg_data/postmaster.pid" ]; then "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true; fi
  [ -n "${redis_pid:-}" ] && { kill -TERM "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; }
  if [ "$keep" = 0 ]; then rm -rf "$dir"; else echo "local-cluster: kept $dir"; fi
}
trap 'stop_all' EXIT
trap 'exit 0' INT TERM

# Redis: no persistence, loopback only.
redis_port="$(free_port)"
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --protected-mode yes >"$dir/redis.log" 2>&1 &
redis_pid=$!
wait_for "redis-server" "$dir/redis.log" bash -c "exec 3<>/dev/tcp/127.0.0.1/$redis_port"

# PostgreSQL: a throwaway cluster, trust auth on loopback, fsync off (it is a test bed, not a store).
mkdir -p "$dir/pg"
# The postgres user must be able to reach its directory through ours (mktemp makes ours 0700).
[ "${#as_pg[@]}" -gt 0 ] && { chmod o+x "$dir"; chown postgres "$dir/pg"; chmod 700 "$dir/pg"; }
pg_port="$(free_port)"
(cd "$dir/pg" && "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/pg/initdb.log" 2>&1) \
  || { echo "local-cluster: initdb failed:" >&2; cat "$dir/pg/initdb.log" >&2; exit 1; }
(cd "$dir/pg" && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_data" -l "$dir/pg/postgres.log" -w \
  -o "-p $pg_port -h 127.0.0.1 -k $dir/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null)
pg_pid="$(head -n 1 "$pg_data/postmaster.pid")"
database_url="postgres://postgres@127.0.0.1:$pg_port/postgres"
redis_url="redis://127.0.0.1:$redis_port"

secret="${CLUSTER_SECRET:-$(node -e "process.stdout.write(require('node:crypto').randomBytes(24).toString('hex'))")}"
if [ "$use_dist" = 1 ]; then
  [ -f "$root/dist/cli/bin.js" ] || { echo "local-cluster: --dist needs a build (npm run build)" >&2; exit 1; }
  gateway=(node "$root/dist/cli/bin.js" serve)
else
  gateway=(node --import tsx "$root/src/cli/bin.ts" serve)
fi

start_node() {
  local name="$1" port="$2" url="http://127.0.0.1:$2"
  (cd "$root" && exec env PORT="$port" HOST=127.0.0.1 PUBLIC_URL="$url" NODE_ID="$name" NODE_URL="$url" \
    REDIS_URL="$redis_url" DATABASE_URL="$database_url" CLUSTER_SECRET="$secret" \
    CALL_RECORD_PATH="$dir/$name.sqlite" "${gateway[@]}" >"$dir/$name.log" 2>&1) &
  pids+=($!)
}

a_port="$(free_port)"
b_port="$(free_port)"
start_node node-a "$a_port"
a_pid="${pids[0]}"
start_node node-b "$b_port"
b_pid="${pids[1]}"
for n in "a:$a_port" "b:$b_port"; do
  wait_for "node-${n%%:*}" "$dir/node-${n%%:*}.log" node -e "fetch('http://127.0.0.1:${n#*:}/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
done

cat >"$dir/cluster.env.tmp" <<EOF
CLUSTER_DIR=$dir
NODE_A_URL=http://127.0.0.1:$a_port
NODE_A_PID=$a_pid
NODE_B_URL=http://127.0.0.1:$b_port
NODE_B_PID=$b_pid
REDIS_URL=$redis_url
REDIS_PORT=$redis_port
REDIS_PID=$redis_pid
REDIS_SERVER=$redis_server
DATABASE_URL=$database_url
PG_PID=$pg_pid
CLUSTER_SECRET=$secret
EOF
# Renamed into place: a reader never sees half a file.
mv "$dir/cluster.env.tmp" "$dir/cluster.env"
echo "local-cluster: ready. node-a http://127.0.0.1:$a_port, node-b http://127.0.0.1:$b_port, $redis_url, $database_url (details: $dir/cluster.env; Ctrl-C stops it)"

# Until a signal, or until both gateways are gone (a killed node alone does not stop the cluster).
while kill -0 "$a_pid" 2>/dev/null || kill -0 "$b_pid" 2>/dev/null; do sleep 0.5 & wait $! || true; done
echo "local-cluster: both gateways have exited" >&2

# Shared by the scripts in .ci/, ./dev, ./test and the justfile's recipes: `. .ci/lib.sh` (bash,
# after `set -euo pipefail`). Defines functions and a few variables; starts nothing by itself.
#
#   Tools, installed on first use and never again (each says what it installs):
#     need_just need_nextest need_diesel need_chromium need_wrk need_npm <dir>
#   Secrets, ports, databases, Redis:
#     secret free_port db_url <name> db_create <name> db_drop <name> redis_forget <prefix>
#   Processes (the `shell` binary, each with exactly the variables given):
#     private_shell <binary>   copy it to a folder of our own (SHELL_BIN); the target is shared
#     start <name> <log|-> VAR=value...   `shell serve` in the background ("-": output on ours,
#                                         each line prefixed with [name])
#     wait_ready <seconds> <url>...       poll each URL until it answers 2xx; fail at once when a
#                                         started process exits (its log tail is printed)
#     stop_all                            SIGTERM every started process and wait for it

TESSERA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tessera-target}"
# Where `cargo install` puts binaries: on PATH, so a tool installed here is found at once.
CARGO_BIN="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_BASE="${PG_ADMIN_URL%/*}"
# The domains with a database of their own: the table of services' (shell/tests/suite/compose.rs checks).
DB_DOMAINS="auth user task notification"

# Tool versions, pinned. nextest: the machine ships this one; another is replaced.
JUST_VERSION=1.43.0
NEXTEST_VERSION=0.9.143
DIESEL_CLI_VERSION=2.3.2

say() { echo "== $*" >&2; }

# The table of services (app/src/services.rs, printed by `shell services`) without its header:
# name, kind, port, prefixes, url_var, database_var, tab-separated ("-" for none). Needs SHELL_BIN.
service_table() { "$SHELL_BIN" services | tail -n +2; }

# --- tools ---------------------------------------------------------------------------------------

need_just() {
  just --version 2>/dev/null | grep -qx "just $JUST_VERSION" && return 0
  say "installing just $JUST_VERSION with cargo (first run only; about a minute)"
  cargo install just --locked --version "$JUST_VERSION"
}

need_nextest() {
  cargo nextest --version 2>/dev/null | grep -q "^cargo-nextest $NEXTEST_VERSION " && return 0
  say "installing cargo-nextest $NEXTEST_VERSION with cargo (first run only)"
  cargo install cargo-nextest --locked --version "$NEXTEST_VERSION"
}

# diesel_cli checks that each committed schema.rs matches its migrations; it links libpq.
need_diesel() {
  diesel --version 2>/dev/null | grep -q "$DIESEL_CLI_VERSION" && return 0
  if ! dpkg -s libpq-dev >/dev/null 2>&1; then
    say "installing libpq-dev with apt (diesel_cli links it)"
    apt-get update -qq && apt-get install -y -qq libpq-dev
  fi
  say "installing diesel_cli $DIESEL_CLI_VERSION with cargo (first run only; a few minutes)"
  cargo install diesel_cli --no-default-features --features postgres --locked \
    --version "$DIESEL_CLI_VERSION"
}

# The browser tests and the Swagger UI check drive Debian's Chromium (playwright-core from npm).
need_chromium() {
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] && return 0
  say "installing Chromium with apt (first run only)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
}

# The benchmarks' load generator (.ci/bench/run): Debian's wrk; pgbench comes with the client.
need_wrk() {
  command -v wrk > /dev/null && command -v pgbench > /dev/null && return 0
  say "installing wrk and pgbench (postgresql-client) with apt (first run only)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk postgresql-client
}

# need_npm <dir>: `npm ci` in <dir> when its node_modules is missing or older than its lockfile.
need_npm() {
  local dir="$TESSERA_ROOT/$1"
  if [ -f "$dir/node_modules/.package-lock.json" ] \
    && [ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    return 0
  fi
  say "installing the npm packages of $1 (npm ci)"
  (cd "$dir" && npm ci --silent --no-audit --no-fund)
}

# --- secrets, ports, databases, Redis --------------------------------------------------------------

# 32 random bytes as 64 hex characters.
secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# A loopback port nobody listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

db_url() { echo "$PG_BASE/$1"; }

# db_create <name>: creates the database unless it exists.
db_create() {
  if [ "$(psql "$PG_ADMIN_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'")" != "1" ]; then
    psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $1" && say "created database $1"
  fi
}

db_drop() { psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }

# redis_forget <prefix>: deletes every key under <prefix>:.
redis_forget() { redis-cli --scan --pattern "$1:*" | xargs -r redis-cli del > /dev/null; }

# --- processes -------------------------------------------------------------------------------------

lib_pids=() lib_names=() lib_logs=()
lib_work=""

# A folder of our own (removed by stop_all's caller via lib_cleanup_work), outside the clone:
# `shell` looks for a .env in its working directory, and none must leak in.
lib_workdir() {
  [ -n "$lib_work" ] || lib_work="$(mktemp -d "${TMPDIR:-/tmp}/tessera.XXXXXX")"
  echo "$lib_work"
}

# private_shell <binary>: sets SHELL_BIN to a private copy (another build may replace the
# original mid-run).
private_shell() {
  lib_workdir > /dev/null
  cp "$1" "$lib_work/shell"
  SHELL_BIN="$lib_work/shell"
}

start() {
  local name="$1" log="$2"; shift 2
  : "${SHELL_BIN:?start needs SHELL_BIN (private_shell)}"
  lib_workdir > /dev/null
  if [ "$log" = "-" ]; then
    (cd "$lib_work" && exec env -i PATH="$PATH" HOME="$HOME" "$@" "$SHELL_BIN" serve) \
      > >(trap '' INT TERM; exec sed -u "s/^/[$name] /") 2>&1 &
  else
    (cd "$lib_work" && exec env -i PATH="$PATH" HOME="$HOME" "$@" "$SHELL_BIN" serve) > "$log" 2>&1 &
  fi
  lib_pids+=("$!") lib_names+=("$name") lib_logs+=("$log")
}

wait_ready() {
  local seconds="$1"; shift
  local deadline=$(( $(date +%s) + seconds )) url i
  for url in "$@"; do
    until curl -fs -o /dev/null --max-time 2 "$url"; do
      for i in "${!lib_pids[@]}"; do
        if ! kill -0 "${lib_pids[$i]}" 2>/dev/null; then
          echo "${lib_names[$i]} exited before $url was ready" >&2
          [ "${lib_logs[$i]}" != "-" ] && tail -n 40 "${lib_logs[$i]}" >&2
          return 1
        fi
      done
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "$url was not ready within $seconds s" >&2
        return 1
      fi
      sleep 0.2
    done
  done
}

stop_all() {
  local p
  for p in "${lib_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${lib_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  lib_pids=() lib_names=() lib_logs=()
}

# Stops everything and removes the private folder: for `trap lib_cleanup EXIT`.
lib_cleanup() {
  stop_all
  [ -n "$lib_work" ] && rm -rf "$lib_work"
  lib_work=""
}

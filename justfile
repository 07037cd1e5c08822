# Tessera developer tasks. `just` lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]
set dotenv-load

export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", env_var("HOME") / ".cache/tessera-target")

# Domains with a database, and the shell features (one per domain crate) that can be built alone:
# the table of services' (app/src/services.rs; shell/tests/suite/compose.rs checks).
domains := "auth user task notification"
features := "auth user task notification worker"

# List the recipes.
default:
    @just --list

# Start the machine's PostgreSQL and Redis if they are down.
services:
    @.ci/services

# Run the whole platform as one process: API :4000, web app :3000 (creates databases and .env secrets on first run).
dev: services _dev-env
    #!/usr/bin/env bash
    set -euo pipefail
    . .ci/lib.sh
    for d in {{domains}}; do db_create "tessera_$d"; done
    # The web app's bundle (ui/dist), rebuilt when one of its inputs changed; its tools are
    # installed on first use. If the build fails the API still starts, without the web app.
    .ci/ui-tools || echo "warning: the web app's build tools could not be installed (see above)" >&2
    ui/build.sh --if-stale || echo "warning: the web app's bundle was not built (see above)" >&2
    cargo build -p shell
    echo
    echo "  web app     http://localhost:${UI_PORT:-3000}    (the bundle from ui/dist; without one, not served)"
    echo "  API         http://localhost:${PORT:-4000}    (e.g. POST /auth/register)"
    echo "  health      http://localhost:${PORT:-4000}/health   ready: /ready   metrics: /metrics"
    echo "  mail        http://localhost:1080    (the SMTP catcher; SMTP on :1025)"
    echo
    LOG_FORMAT="${LOG_FORMAT:-pretty}" exec "$CARGO_TARGET_DIR/debug/shell" serve

# Run the split deployment here: one process per service, gateway :4000, auth :4001 ... worker :4005.
split: services _dev-env
    .ci/split

# Write .env with fresh random secrets and local URLs, unless it exists.
_dev-env:
    #!/usr/bin/env bash
    set -euo pipefail
    [ -f .env ] && exit 0
    . .ci/lib.sh
    {
      echo "# Written by 'just dev' on $(date -u +%FT%TZ). Local development only; never commit."
      echo "JWT_SECRET=$(secret)"
      echo "INTERNAL_JWT_SECRET=$(secret)"
      # For the compose files only (their Postgres); the app reads it from the database URLs.
      echo "POSTGRES_PASSWORD=$(secret)"
      for d in {{domains}}; do
        echo "$(echo "$d" | tr a-z A-Z)_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera_$d"
      done
      echo "REDIS_URL=redis://127.0.0.1:6379"
      echo "SMTP_HOST=127.0.0.1"
      echo "SMTP_PORT=1025"
    } > .env
    echo "wrote .env with new random secrets"

# Every check and every test: formatting, lints, feature builds, wasm wire types, schema drift, all
# tests (both deployments), the web app in Chromium (both deployments), both compose files run
# for real, the quick benchmark, then the bounded contract run (schemathesis and Swagger UI in
# Chromium).
test: services check schema-check deploy-check
    cargo nextest run --workspace --all-features --profile ci
    {{just_executable()}} ui-test
    {{just_executable()}} compose-test
    {{just_executable()}} bench-quick
    {{just_executable()}} fuzz-ci

# Needs root (installs docker.io, Compose v2 and buildx on first use, starts dockerd if it is down).
# Run compose.mono.yml, then compose.split.yml, on Docker with local stand-in images: `--wait` until
# healthy, the e2e suite's external scenarios through :4000, mail and web app checks, `down -v`.
# `just compose-test --only split` runs one (see .ci/compose-test).
[positional-arguments]
compose-test *args: services
    .ci/compose-test "$@"

# ui/build.sh needs `npm ci` in ui/ and wasm-bindgen-cli at Cargo.lock's version (ui/README.md).
# Build the web app's release bundle into ui/dist: wasm under its size budget, CSS, hashed names, .gz/.br.
ui-build:
    ui/build.sh

# Builds the bundle when stale. Arguments go to .ci/ui-e2e, e.g.
# `just ui-test --only single -- --test-name-pattern='two tabs'` (see TESTING.md).
# The web app in headless Chromium, against the single-process and the split deployment.
[positional-arguments]
ui-test *args: services
    .ci/ui-e2e "$@"

# Render the Kubernetes overlays (deploy/k8s), validate them against the Kubernetes schemas and run
# checkov on them (deploy/check; installs its pinned tools under ~/.cache/tessera-tools once).
deploy-check:
    deploy/check

# Formatting, clippy, each single-feature shell, and the wire types for wasm.
check:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    for f in gateway ui {{features}}; do cargo build -q -p shell --no-default-features --features "$f"; done
    cargo build -q -p shell --no-default-features
    cargo check -q -p tessera-contracts --target wasm32-unknown-unknown
    for d in {{features}}; do cargo check -q -p "tessera-$d" --no-default-features --target wasm32-unknown-unknown; done

# Format the code.
fmt:
    cargo fmt --all

# Apply pending migrations (all compiled-in domains, or the ones named: `just migrate auth`).
migrate *services: services
    cargo run -q -p shell -- migrate {{ if services == "" { "" } else { "--services " + replace(services, " ", ",") } }}

# Print a domain's schema from its migrated database (needs diesel_cli: see README).
schema domain:
    diesel print-schema --database-url "${{ uppercase(domain) }}_DATABASE_URL" --except-tables outbox processed_jobs

# Fail when a committed schema.rs differs from what its migrations produce (needs diesel_cli).
schema-check: services
    #!/usr/bin/env bash
    set -euo pipefail
    . .ci/lib.sh
    command -v diesel >/dev/null || { echo "diesel_cli is missing: ./test installs it" >&2; exit 1; }
    cargo build -q -p shell
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    failed=0
    for d in {{domains}}; do
      db="tessera_schema_${d}_$$"
      db_create "$db"
      url="$(db_url "$db")"
      # From a folder of its own: shell reads a .env in its working directory, and the one
      # `just dev` writes here would send the migrations to tessera_<domain> instead.
      (cd "$work" && env -i PATH="$PATH" DATABASE_URL="$url" LOG_FORMAT=json RUST_LOG=warn \
        "$CARGO_TARGET_DIR/debug/shell" migrate --services "$d")
      if ! diff -u "domains/$d/src/schema.rs" <(diesel print-schema --database-url "$url" --except-tables outbox processed_jobs); then
        echo "domains/$d/src/schema.rs is stale: run 'just schema $d' against a migrated database" >&2; failed=1
      fi
      if [ "$d" = "auth" ] && ! diff -u app/src/platform_schema.rs <(diesel print-schema --database-url "$url" --only-tables outbox processed_jobs); then
        echo "app/src/platform_schema.rs is stale" >&2; failed=1
      fi
      db_drop "$db"
    done
    [ "$failed" = 0 ] && echo "schema.rs files match their migrations"

# Regenerate .env.example from the declared configuration (app/src/variables.rs).
env-example:
    UPDATE_ENV_EXAMPLE=1 cargo test -q -p tessera-app --lib variables::tests::env_example_is_generated_from_the_declaration
    @echo ".env.example regenerated"

# Regenerate the committed openapi.json (the public document; `shell openapi --internal` prints
# the service-to-service one).
openapi:
    cargo run -q -p shell -- openapi > openapi.json
    @echo "openapi.json regenerated"

# Contract fuzzing, exploring: schemathesis (every check, positive and negative data) against a
# fresh single-process platform, 200 examples per operation, a new random seed each run (printed;
# `just fuzz --seed N` replays one). Not part of `just test`; what it finds becomes a regression
# test and a line in TESTING.md. Arguments go to .ci/fuzz/run, e.g. `just fuzz --max-time 600`.
fuzz *args: services
    .ci/fuzz/run --examples "${FUZZ_EXAMPLES:-200}" {{args}}

# Contract fuzzing, the gate `just test` ends with: a fixed seed, deterministic generation, a fixed
# number of examples per operation and no time budget, so the same commit runs the same cases on
# any machine.
fuzz-ci *args: services
    .ci/fuzz/run --gate --examples "${FUZZ_EXAMPLES:-30}" {{args}}

# The fault suite at full scale (TESTING.md, "Fault suite"): real load through the gateway while
# Redis, the worker, the notification service, SMTP or Postgres goes away (Redis 60 s, notification
# service 10 min, SMTP 60 s and 5 s per reply, ...), both deployments; each scenario prints its
# count line (also in $CARGO_TARGET_DIR/chaos-report.txt). `just test` runs the same binary at
# the short scale. Arguments are nextest filters, e.g. `just chaos split::redis_restart`.
chaos *filters: services
    #!/usr/bin/env bash
    set -uo pipefail
    report="$CARGO_TARGET_DIR/chaos-report.txt"
    rm -f "$report"
    CHAOS_SCALE=full cargo nextest run -p shell --all-features --test suite --profile chaos --no-capture \
      -E 'test(/^chaos::/)' {{filters}}
    status=$?
    echo; cat "$report" 2>/dev/null || echo "no scenario reported"
    exit $status

# wrk through the gateway beside pgbench on the same statements, the split deployment, login load,
# memory, POST -> SSE and start-up (TESTING.md, "Benchmarks"); a few minutes. Figures, not tests:
# fails only when something did not run. BENCH_ROUNDS=3 (paired rounds per compared figure, the
# median decides), BENCH_DURATION=5 (s per run); SHELL_BIN=<binary> skips
# the build; installs wrk with apt on first use.
# Benchmarks on a release build, each figure beside its target; writes BENCHMARKS.md.
bench: services
    .ci/bench/run

# The table goes to $BENCH_OUT or a temporary file; BENCHMARKS.md is left alone. `just test` runs it.
# Checks that the benchmarks still run: debug build, one round of 1 s runs, 100 SSE tasks, one
# start-up.
bench-quick: services
    .ci/bench/run --quick

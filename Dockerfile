# syntax=docker/dockerfile:1
#
# The Tessera image: one `shell` binary carrying the modules named by FEATURES.
#
#   docker build -t tessera .                                   # gateway + every domain + web app
#   docker build -t tessera-auth --build-arg FEATURES=auth .    # the auth service alone
#
# compose.mono.yml and compose.split.yml build it with their own FEATURES. Stages: `chef` (toolchain
# + cargo-chef), `planner` (dependency recipe), `builder` (dependencies in their own layer, then the
# binary), `node` (Node for the web app's build tools), `ui` (the web app's bundle), `runtime`
# (debian-slim, non-root).

# rust-toolchain.toml pins the `stable` channel; `rust:1-bookworm` is the current stable release on
# the same Debian as the runtime image, so the binary finds the glibc it was linked against.
ARG RUST_IMAGE=rust:1-bookworm

FROM ${RUST_IMAGE} AS chef
WORKDIR /src
RUN cargo install cargo-chef --locked --version ^0.1
# Installs what rust-toolchain.toml asks for (components, wasm target) once, in its own layer.
COPY rust-toolchain.toml ./
RUN rustup toolchain install

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG FEATURES="gateway auth user task notification worker ui"
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only: this layer is reused until Cargo.toml/Cargo.lock or FEATURES change.
RUN cargo chef cook --release --locked -p shell --no-default-features --features "$FEATURES" \
      --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p shell --no-default-features --features "$FEATURES" \
 && cp target/release/shell /usr/local/bin/shell

# The web app (Dioxus, wasm): the release bundle `just ui-build` writes to ui/dist (index.html and
# content-hashed, precompressed assets/), built by the same script, ui/build.sh. The runtime image
# carries it in /usr/local/share/tessera/ui (UI_DIR), which the `ui` module serves on UI_PORT
# (3000). Only when FEATURES names `ui`; otherwise /ui-dist stays empty and no UI is served.
# ui/build.sh comes with the web app's build pipeline (issue 11, the `ui-harness` branch); until it
# is merged, an image with `ui` in FEATURES fails here, saying so, rather than ship without a UI.
# Node for the bundle's npm tools (wasm-opt from npm binaryen, Tailwind CSS; see TOOLS.md), from
# the official image on the same Debian: Tailwind's engine needs Node 20 or later, and bookworm's
# own nodejs is 18.
FROM node:22-bookworm-slim AS node

FROM chef AS ui
ARG FEATURES="gateway auth user task notification worker ui"
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
COPY . .
# wasm-bindgen-cli at the version Cargo.lock pins, without --locked (its own lockfile names a
# crate version the registry lacks; TOOLS.md); the npm tools from ui/package-lock.json; then the
# justfile's build script.
RUN set -eu; mkdir -p /ui-dist; \
    case " $FEATURES " in *" ui "*) ;; *) echo "FEATURES has no ui: no web app in this image"; exit 0 ;; esac; \
    if [ ! -x ui/build.sh ]; then echo "ui/build.sh is missing: the web app's build pipeline has not landed" >&2; exit 1; fi; \
    bindgen="$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')"; \
    cargo install wasm-bindgen-cli --version "=$bindgen"; \
    if [ -f ui/package-lock.json ]; then (cd ui && npm ci --no-audit --no-fund); fi; \
    ui/build.sh; \
    test -f ui/dist/index.html; \
    cp -r ui/dist/. /ui-dist/

FROM debian:bookworm-slim AS runtime
# ca-certificates for TLS to SMTP or Redis; curl for the compose health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /srv/tessera --create-home \
      --shell /usr/sbin/nologin tessera
COPY --from=builder /usr/local/bin/shell /usr/local/bin/shell
COPY --from=ui /ui-dist /usr/local/share/tessera/ui
# Where the `ui` module finds the bundle (a process that does not serve the web app ignores it).
ENV UI_DIR=/usr/local/share/tessera/ui
# A writable working directory: MAIL_DIR (var/mail) is relative to it when SMTP_HOST is unset.
WORKDIR /srv/tessera
USER 10001:10001
ENV LOG_FORMAT=json
# 4000 is the gateway's (or the single process's) port; a single-domain container listens on its
# own (4001-4005, set by PORT), the web app on UI_PORT (3000). Health checks live in the compose
# files, because the port depends on what the container mounts.
EXPOSE 4000 3000
ENTRYPOINT ["shell"]
CMD ["serve"]

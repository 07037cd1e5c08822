# The Tessera image: one `shell` binary carrying the modules named by FEATURES.
#
#   docker build -t tessera .                                   # gateway + every domain + web app
#   docker build -t tessera-auth --build-arg FEATURES=auth .    # the auth service alone
#
# compose.mono.yml and compose.split.yml build it with their own FEATURES. Stages: `chef` (toolchain
# + cargo-chef), `planner` (dependency recipe), `builder` (dependencies in their own layer, then the
# binary), `node` (Node for the web app's build tools), `ui` (the web app's bundle), `prebuilt` (a
# binary and bundle built outside the image), `runtime` (debian-slim, non-root).
# No `# syntax=` line: it makes BuildKit fetch a frontend image first, which fails where no image
# registry is reachable (.ci/compose-test); the daemon's built-in frontend reads this file. Build
# with BuildKit (the default of `docker build` and Compose): it builds only the stages the
# runtime stage needs, which is what lets SHELL_FROM and UI_FROM skip the compiling ones.
#
# SHELL_FROM and UI_FROM name the stage the binary and the web app's bundle come from: `builder`
# and `ui` (the defaults: compiled here, as production does) or `prebuilt`, which copies them from
# the build context (prebuilt/shell, prebuilt/ui/) so the same runtime stage runs a host build:
#
#   docker build -f Dockerfile --build-arg SHELL_FROM=prebuilt --build-arg UI_FROM=prebuilt DIR
#
# (.ci/compose-test does this for CI, DIR holding the binary `just test` built and ui/dist.)
# RUNTIME_IMAGE, RUST_IMAGE and NODE_IMAGE name the base images (CI points RUNTIME_IMAGE at a
# local Debian image).

# rust-toolchain.toml pins the `stable` channel; `rust:1-bookworm` is the current stable release on
# the same Debian as the runtime image, so the binary finds the glibc it was linked against.
ARG RUST_IMAGE=rust:1-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim
ARG RUNTIME_IMAGE=debian:bookworm-slim
ARG SHELL_FROM=builder
ARG UI_FROM=ui

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
FROM ${NODE_IMAGE} AS node

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

# A binary and bundle built outside the image (SHELL_FROM=prebuilt, UI_FROM=prebuilt): the shell
# binary at prebuilt/shell and the bundle (ui/dist's content) in prebuilt/ui/ of the build context.
FROM scratch AS prebuilt
COPY prebuilt/shell /usr/local/bin/shell
COPY prebuilt/ui /ui-dist

FROM ${SHELL_FROM} AS shell-binary
FROM ${UI_FROM} AS ui-bundle

FROM ${RUNTIME_IMAGE} AS runtime
# ca-certificates for TLS to SMTP or Redis; curl for the compose health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /srv/tessera --create-home \
      --shell /usr/sbin/nologin tessera
COPY --from=shell-binary /usr/local/bin/shell /usr/local/bin/shell
COPY --from=ui-bundle /ui-dist /usr/local/share/tessera/ui
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

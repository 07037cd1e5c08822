# syntax=docker/dockerfile:1
#
# The Tessera image: one `shell` binary carrying the modules named by FEATURES.
#
#   docker build -t tessera .                                   # gateway + every domain (one process)
#   docker build -t tessera-auth --build-arg FEATURES=auth .    # the auth service alone
#
# compose.mono.yml and compose.split.yml build it with their own FEATURES. Stages: `chef` (toolchain
# + cargo-chef), `planner` (dependency recipe), `builder` (dependencies in their own layer, then the
# binary), `ui` (the web app's static files), `runtime` (debian-slim, non-root).

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
ARG FEATURES="gateway auth user task notification worker"
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only: this layer is reused until Cargo.toml/Cargo.lock or FEATURES change.
RUN cargo chef cook --release --locked -p shell --no-default-features --features "$FEATURES" \
      --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p shell --no-default-features --features "$FEATURES" \
 && cp target/release/shell /usr/local/bin/shell

# The web app (Dioxus, wasm). PLACEHOLDER until the web app lands: today ui/ holds only a README,
# so this stage produces an empty /ui-dist and the image serves no UI. Once ui/Cargo.toml exists
# and FEATURES names `ui`, it builds the crate for wasm32-unknown-unknown, runs wasm-bindgen (the
# version Cargo.lock pins, see TOOLS.md) and copies ui/index.html and ui/assets/ next to the
# output; the runtime image then carries them in /usr/local/share/tessera/ui, which the `ui`
# module serves on UI_PORT (3000). That branch has not run yet: the web app's issue owns it.
FROM chef AS ui
ARG FEATURES="gateway auth user task notification worker"
COPY . .
RUN set -eu; mkdir -p /ui-dist; \
    case " $FEATURES " in *" ui "*) want_ui=1 ;; *) want_ui=0 ;; esac; \
    if [ "$want_ui" = 0 ]; then \
      echo "FEATURES has no ui: no web app in this image"; \
    elif [ ! -f ui/Cargo.toml ]; then \
      echo "ui/ has no web app yet (see ui/README.md): the image serves no UI"; \
    else \
      bindgen="$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')"; \
      cargo install wasm-bindgen-cli --version "=$bindgen"; \
      pkg="$(sed -n 's/^name = "\(.*\)"$/\1/p' ui/Cargo.toml | head -n1)"; \
      cargo build --release --locked -p "$pkg" --target wasm32-unknown-unknown; \
      wasm-bindgen --target web --no-typescript --out-dir /ui-dist \
        "target/wasm32-unknown-unknown/release/$(echo "$pkg" | tr - _).wasm"; \
      if [ -f ui/index.html ]; then cp ui/index.html /ui-dist/; fi; \
      if [ -d ui/assets ]; then cp -r ui/assets /ui-dist/; fi; \
    fi

FROM debian:bookworm-slim AS runtime
# ca-certificates for TLS to SMTP or Redis; curl for the compose health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /srv/tessera --create-home \
      --shell /usr/sbin/nologin tessera
COPY --from=builder /usr/local/bin/shell /usr/local/bin/shell
COPY --from=ui /ui-dist /usr/local/share/tessera/ui
# A writable working directory: MAIL_DIR (var/mail) is relative to it when SMTP_HOST is unset.
WORKDIR /srv/tessera
USER 10001:10001
ENV LOG_FORMAT=json
# 4000 is the gateway's (or the single process's) port; a single-domain container listens on its
# own (4001-4005, set by PORT), the web app on UI_PORT (3000). Health checks live in the compose
# files, because the port depends on what the container mounts.
EXPOSE 4000
ENTRYPOINT ["shell"]
CMD ["serve"]

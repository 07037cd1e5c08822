#!/bin/sh
# The stand-in redis image's entrypoint: `redis-server ARGS` runs with protected mode off, as
# the official image's build does; anything else runs as given.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server "$@" --protected-mode no
fi
exec "$@"

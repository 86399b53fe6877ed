#!/bin/sh
# The image's entry point: the first argument names the process, the rest is passed on.
# `exec` makes Python PID 1, so it receives the container's SIGTERM itself.
set -eu

role="${1:-}"
[ "$#" -gt 0 ] && shift

case "$role" in
  api) exec python -m services.api "$@" ;;
  scheduler) exec python -m services.scheduler "$@" ;;
  collector) exec python -m services.collector "$@" ;;
  sandbox) exec python -m services.sandbox "$@" ;;
  migrate) exec python -m shared.migrate "$@" ;;
  *)
    echo "usage: instagram-monitor api|scheduler|collector|sandbox|migrate [arguments...]" >&2
    exit 64
    ;;
esac

#!/bin/sh
# docker compose for this repository: deploy/compose.yaml with the repository's .env, and the
# sandbox profile enabled when no TikHub key is configured. Usage: deploy/compose.sh <command...>
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
env_file="$root/.env"

if [ ! -f "$env_file" ]; then
  cp "$root/.env.example" "$env_file"
  echo "created .env from .env.example: review it before deploying anywhere but this machine" >&2
fi

# The value of variable $1: the shell's ($2) wins over .env's, as in compose's interpolation.
setting() {
  if [ -n "$2" ]; then
    printf '%s' "$2"
  else
    sed -n "s/^[[:space:]]*$1=//p" "$env_file" | tail -n 1 | tr -d "\"' \r"
  fi
}

key="$(setting TIKHUB_API_KEY "${TIKHUB_API_KEY:-}")"
if [ -z "${COMPOSE_PROFILES:-}" ] && [ -z "$key" ]; then
  COMPOSE_PROFILES=sandbox
  export COMPOSE_PROFILES
  [ "${1:-}" = up ] && echo "TIKHUB_API_KEY is empty: starting the sandbox (a fake TikHub)" >&2
fi
case "$(setting TIKHUB_BASE_URL "${TIKHUB_BASE_URL:-}")" in
  http://sandbox:*)
    [ -n "$key" ] && [ "${1:-}" = up ] &&
      echo "warning: TIKHUB_API_KEY is set but TIKHUB_BASE_URL still points at the sandbox" >&2
    ;;
esac

exec docker compose --env-file "$env_file" --file "$root/deploy/compose.yaml" "$@"

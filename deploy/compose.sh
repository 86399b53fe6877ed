#!/bin/sh
# docker compose for this repository: deploy/compose.yaml with the repository's .env (or
# .env.example), and the sandbox profile enabled when no TikHub key is configured. Usage: deploy/compose.sh <command...>
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v docker >/dev/null 2>&1; then
  echo "docker is not installed: this needs Docker Engine with the Compose v2 plugin" \
    "(https://docs.docker.com/compose/install/). Without Docker, 'make run' runs the product" \
    "on this machine." >&2
  exit 1
fi
if ! docker compose version >/dev/null 2>&1; then
  echo "docker is installed but 'docker compose' is not: install the Compose v2 plugin" \
    "(Debian/Ubuntu: the docker-compose-plugin package;" \
    "https://docs.docker.com/compose/install/linux/)." >&2
  exit 1
fi

# .env is left to the user: the processes `make run` starts read it too, so writing one here
# would change them. Without it, .env.example's values are the deployment's.
env_file="$root/.env"
if [ ! -f "$env_file" ]; then
  env_file="$root/.env.example"
  [ "${1:-}" = up ] &&
    echo "no .env: using .env.example (copy it to .env to change a setting)" >&2
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

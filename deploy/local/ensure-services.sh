#!/usr/bin/env bash
# Makes sure MariaDB and Redis answer on 127.0.0.1 for local runs and tests.
#   --install   also install what is missing (Debian packages; needs root), as CI does.
# Without --install, a server that is not installed is reported with what to do, and the
# script fails.
set -euo pipefail

install=false
[[ "${1:-}" == "--install" ]] && install=true

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_updated=false
apt_install() {
  if ! $apt_updated; then
    as_root apt-get update -qq
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

need() {  # need <command> <debian package>
  command -v "$1" >/dev/null 2>&1 && return 0
  [[ -x "/usr/sbin/$1" ]] && return 0
  if $install; then
    echo "installing $2"
    apt_install "$2"
  else
    echo "$1 is not installed: install the Debian package '$2' or point DATABASE_URL/REDIS_URL at running servers" >&2
    exit 1
  fi
}

wait_for() {  # wait_for <what> <command...>
  local what=$1; shift
  for _ in $(seq 1 60); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "$what did not come up within 30 s" >&2
  exit 1
}

mariadb_tcp() { mariadb --protocol=tcp -h127.0.0.1 -P3306 -uroot -e 'SELECT 1'; }

if ! mariadb_tcp >/dev/null 2>&1; then
  need mariadb mariadb-client
  need mariadbd mariadb-server
  if ! mariadb-admin ping >/dev/null 2>&1; then
    echo "starting MariaDB"
    as_root install -d -o mysql -g mysql /run/mysqld
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for MariaDB mariadb-admin ping
  fi
  if ! mariadb_tcp >/dev/null 2>&1; then
    # Debian's root signs in by unix socket only; tests and the product connect over TCP.
    echo "allowing MariaDB root over TCP with an empty password (local development only)"
    as_root mariadb -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;"
  fi
  wait_for "MariaDB over TCP" mariadb_tcp
fi

if ! (command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 -p 6379 ping) >/dev/null 2>&1; then
  need redis-server redis-server
  echo "starting Redis"
  as_root install -d /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
fi

echo "MariaDB and Redis are answering on 127.0.0.1"

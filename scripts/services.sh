#!/usr/bin/env bash
# Installs (Debian packages, as root) and starts every service the tests need, on loopback,
# under one state directory. Idempotent: a service already up is left alone.
#   scripts/services.sh up     -> starts what is missing, prints `export` lines (also in $ROOT/env)
#   scripts/services.sh down   -> stops only what this script started
# ROOT defaults to /tmp/dockwatch-services; the busybox image and the Go renderer survive there between runs.
set -euo pipefail
ROOT=${DOCKWATCH_SERVICES_ROOT:-/tmp/dockwatch-services}
mkdir -p "$ROOT"
cmd=${1:-up}

log() { echo "[services] $*" >&2; }

PKGS=(docker.io busybox-static influxdb redis-server victoria-metrics prometheus python3-aiosmtpd chromium tmux procps
      python3-grpcio python3-grpc-tools docker-compose golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
      golang-gopkg-yaml.v2-dev iproute2 systemd)

# shellcheck source=scripts/apt-install.sh
. "$(cd "$(dirname "$0")" && pwd)/apt-install.sh"
install_missing() { apt_install_missing "$ROOT/apt.log" "${PKGS[@]}"; }

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # wait_for NAME TRIES CMD...
  local name=$1 tries=$2; shift 2
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  log "$name did not come up; last log lines:"; tail -20 "$ROOT/$name.log" >&2 || true; return 1
}

start_docker() {
  local d=$ROOT/docker; mkdir -p "$d"
  export DOCKER_HOST=unix://$d/docker.sock
  if ! docker info >/dev/null 2>&1; then
    dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
      --data-root="$d/root" --exec-root="$d/exec" --host="$DOCKER_HOST" --pidfile="$d/docker.pid" >"$ROOT/docker.log" 2>&1 &
    echo $! >"$ROOT/docker.started"
    wait_for docker 120 docker info
  fi
  if ! docker image inspect dockwatch-test/busybox:latest >/dev/null 2>&1; then
    local t; t=$(mktemp -d); mkdir -p "$t/bin" "$t/tmp" "$t/dev/shm"; cp /bin/busybox "$t/bin/"
    for c in sh sleep yes cat dd head tail echo ls ps kill true false seq; do ln -sf busybox "$t/bin/$c"; done
    tar -C "$t" -c . | docker import -c 'ENV PATH=/bin' - dockwatch-test/busybox:latest >/dev/null; rm -rf "$t"
  fi
}

start_influx() {
  local d=$ROOT/influx
  if ! alive "$ROOT/influx.pid"; then
    mkdir -p "$d"; local hp rp; hp=$(free_port); rp=$(free_port)
    cat >"$d/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rp"
[meta]
  dir = "$d/meta"
[data]
  dir = "$d/data"
  wal-dir = "$d/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$hp"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
    influxd -config "$d/influxdb.conf" >"$ROOT/influx.log" 2>&1 &
    echo $! >"$ROOT/influx.pid"; echo "$hp" >"$ROOT/influx.port"
  fi
  wait_for influx 60 curl -sf "http://127.0.0.1:$(cat "$ROOT/influx.port")/ping"
}

start_redis() {
  if ! alive "$ROOT/redis.pid"; then
    local p; p=$(free_port); mkdir -p "$ROOT/redis"
    redis-server --bind 127.0.0.1 --port "$p" --save "" --appendonly no --dir "$ROOT/redis" >"$ROOT/redis.log" 2>&1 &
    echo $! >"$ROOT/redis.pid"; echo "$p" >"$ROOT/redis.port"
  fi
  wait_for redis 40 redis-cli -p "$(cat "$ROOT/redis.port")" ping
}

start_victoria() {
  if ! alive "$ROOT/victoria.pid"; then
    local p; p=$(free_port); mkdir -p "$ROOT/victoria"
    victoria-metrics -httpListenAddr "127.0.0.1:$p" -storageDataPath "$ROOT/victoria" -retentionPeriod 100y >"$ROOT/victoria.log" 2>&1 &
    echo $! >"$ROOT/victoria.pid"; echo "$p" >"$ROOT/victoria.port"
  fi
  wait_for victoria 60 curl -sf "http://127.0.0.1:$(cat "$ROOT/victoria.port")/health"
}

write_env() {
  cat >"$ROOT/env" <<ENV
export DOCKER_HOST=unix://$ROOT/docker/docker.sock
export TEST_DOCKER_HOST=unix://$ROOT/docker/docker.sock
export TEST_DOCKER_IMAGE=dockwatch-test/busybox:latest
export TEST_INFLUXDB_URL=http://127.0.0.1:$(cat "$ROOT/influx.port")
export TEST_REDIS_URL=redis://127.0.0.1:$(cat "$ROOT/redis.port")
export TEST_VICTORIA_URL=http://127.0.0.1:$(cat "$ROOT/victoria.port")
export TEST_CHROMIUM=/usr/bin/chromium
export TEST_PYTHON=/usr/bin/python3
export TEST_PROMETHEUS=$(command -v prometheus)
export TEST_PROMTOOL=$(command -v promtool)
export TEST_SERVICES_ROOT=$ROOT
ENV
  cat "$ROOT/env"
}

stop_all() {
  for f in influx redis victoria; do
    if alive "$ROOT/$f.pid"; then kill "$(cat "$ROOT/$f.pid")" 2>/dev/null || true; fi
    rm -f "$ROOT/$f.pid"
  done
  if [ -f "$ROOT/docker.started" ]; then
    export DOCKER_HOST=unix://$ROOT/docker/docker.sock
    ids=$(docker ps -aq --filter label=dockwatch.test 2>/dev/null || true)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
    kill "$(cat "$ROOT/docker.started")" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$(cat "$ROOT/docker.started")" 2>/dev/null || break; sleep 0.25; done
    rm -f "$ROOT/docker.started"
  fi
}

case "$cmd" in
  up)
    command -v curl >/dev/null || PKGS+=(curl)
    install_missing
    command -v curl >/dev/null || { log "curl missing"; exit 1; }
    start_docker; start_influx; start_redis; start_victoria
    write_env ;;
  down) stop_all ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac

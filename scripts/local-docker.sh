#!/usr/bin/env bash
# A Docker engine and a local base image, on a machine that reaches Debian's and PyPI's package
# servers but no image registry (these CI machines). `.ci/run`, the compose-stack test
# (tests/ship/test_compose_stack.py) and `make compose-up LOCAL_IMAGES=1` call it.
#
#   scripts/local-docker.sh [ensure]             engine, then base (what the callers above run)
#   scripts/local-docker.sh engine               install docker.io and docker-compose when missing,
#                                                start dockerd when no engine answers (and install
#                                                debootstrap when the base must be built)
#   scripts/local-docker.sh base                 build crm-local/base:bookworm when absent or stale
#                                                (installs debootstrap when missing)
#   scripts/local-docker.sh wait PROJECT [SECS]  wait until every container of a compose project
#                                                that has a health check is healthy
#
# Exit status: 0 done; 3 no engine can be started here (the reason is the last line on stderr:
# not root, no apt-get, dockerd does not come up); 1 anything else (a failed build, a stack that
# turns unhealthy). DOCKER_HOST=unix:///PATH: start and use an engine on that socket instead.
# CRM_DOCKER_STORAGE_DRIVER=vfs (say): a storage driver for dockerd instead of its own choice.
set -euo pipefail

BASE_IMAGE=crm-local/base:bookworm
SUITE=bookworm
# Everything the stack's services need from Debian, in ONE image that every local image builds
# on (images share its layer; five bases would cost five debootstraps): Python with venv for the
# app image, Redis, PostgreSQL, nginx, Prometheus; wget for health checks; CA certificates for
# pip inside image builds.
PACKAGES=(python3 python3-venv ca-certificates wget redis-server postgresql-15 nginx-light prometheus)
# Bump when the way the base is made changes: an image with another recipe is rebuilt.
RECIPE_VERSION=1
LOG_DIR=/var/log/crm-local-docker
LOCK=/var/lock/crm-local-docker.lock

say() { echo "local-docker: $*" >&2; }
no_engine() {
  say "no Docker engine can be started here: $*"
  exit 3
}

engine_answers() { docker info >/dev/null 2>&1; }

have() { command -v "$1" >/dev/null 2>&1; }
compose_cli() { docker compose version >/dev/null 2>&1 || have docker-compose; }

# Install Debian packages (root, apt-get): the ones named, once each.
install_packages() {
  [ $# -eq 0 ] && return 0
  local packages
  mapfile -t packages < <(printf '%s\n' "$@" | sort -u)  # read -a fails (set -e) at an EOF without newline
  [ "$(id -u)" -eq 0 ] || no_engine "${packages[*]} missing and not root to install them"
  have apt-get || no_engine "${packages[*]} missing and no apt-get"
  local started=$SECONDS
  say "installing ${packages[*]}"
  # RUNLEVEL=1: the packages must not start their daemons (this script starts dockerd itself).
  if ! { apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }; then
    no_engine "apt-get could not install ${packages[*]}"
  fi
  say "installed in $((SECONDS - started)) s"
}

# The docker client, the compose CLI, and dockerd unless an engine already answers.
install_engine() {
  local missing=()
  have docker || missing+=(docker.io)
  engine_answers || have dockerd || missing+=(docker.io)
  compose_cli || missing+=(docker-compose)
  install_packages "${missing[@]}"
}

start_engine() {
  engine_answers && return 0
  [ "$(id -u)" -eq 0 ] || no_engine "no engine answers and dockerd needs root"
  local host=${DOCKER_HOST:-unix:///var/run/docker.sock} started=$SECONDS
  mkdir -p "$LOG_DIR"
  say "starting dockerd on $host (log: $LOG_DIR/dockerd.log)"
  # --iptables=false: the machine's firewall is not ours to rewrite, and nothing needs NAT:
  # image builds use the host's network (--network host), services talk over a compose bridge
  # and docker-proxy publishes their ports on loopback. setsid: the engine outlives its caller.
  # 9>&-: the engine must not inherit this script's lock, or it holds it for its whole life and
  # every later run of this script waits forever ("waiting for another local-docker run").
  setsid dockerd --host "$host" --iptables=false \
    ${CRM_DOCKER_STORAGE_DRIVER:+--storage-driver="$CRM_DOCKER_STORAGE_DRIVER"} \
    >>"$LOG_DIR/dockerd.log" 2>&1 </dev/null 9>&- &
  local deadline=$((SECONDS + 60))
  until engine_answers; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 5 "$LOG_DIR/dockerd.log" >&2 || true
      no_engine "dockerd did not answer within 60 s"
    fi
    sleep 0.5
  done
  say "engine up in $((SECONDS - started)) s ($(docker info -f '{{.Driver}}') storage)"
}

recipe() { echo "$SUITE ${PACKAGES[*]} v$RECIPE_VERSION" | sha256sum | cut -c1-16; }

base_is_fresh() {
  local have
  have=$(docker image inspect -f '{{index .Config.Labels "crm.base.recipe"}}' "$BASE_IMAGE" \
    2>/dev/null || true)
  [ "$have" = "$(recipe)" ]
}

build_base() {
  base_is_fresh && return 0
  [ "$(id -u)" -eq 0 ] || { say "building $BASE_IMAGE needs root (debootstrap)"; exit 1; }
  have debootstrap || install_packages debootstrap
  local started=$SECONDS rootfs want
  want=$(recipe)
  rootfs=$(mktemp -d /var/tmp/crm-base.XXXXXX)
  # shellcheck disable=SC2064  # expand now: the path is fixed
  trap "rm -rf '$rootfs'" EXIT
  mkdir -p "$LOG_DIR"
  say "building $BASE_IMAGE from Debian $SUITE packages (log: $LOG_DIR/debootstrap.log)"
  if ! debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" \
      "$SUITE" "$rootfs" >"$LOG_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$LOG_DIR/debootstrap.log" >&2
    say "debootstrap failed"
    exit 1
  fi
  # The host's site-local certificate authorities (a company CA, a TLS-inspecting proxy): pip
  # inside an image build must trust what pip on the host trusts.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
  fi
  # What no service reads: apt's downloads and lists, documentation, translations, the time-zone
  # data of Prometheus' web UI (about 200 MB), and the PostgreSQL cluster the package made (the
  # postgres image initialises its own in its volume: deploy/local/postgres/entrypoint.sh).
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* \
    "$rootfs"/usr/share/javascript/moment-timezone/data \
    "$rootfs"/var/lib/postgresql/*/main "$rootfs"/etc/postgresql/*/main
  tar -C "$rootfs" -c . | docker import \
    -c "LABEL crm.base.recipe=$want" -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  say "$BASE_IMAGE built in $((SECONDS - started)) s" \
    "($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
}

# Every container of a compose project with a health check healthy; one that exited with an
# error, or turned unhealthy, fails at once with its last words.
wait_healthy() {
  local project=$1 timeout=${2:-300} started=$SECONDS
  local deadline=$((SECONDS + timeout)) pending id name state health code
  while :; do
    pending=()
    for id in $(docker ps -aq --filter "label=com.docker.compose.project=$project"); do
      read -r name state health code < <(docker inspect -f \
        '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.ExitCode}}' \
        "$id")
      if [ "$health" = unhealthy ] || { [ "$state" = exited ] && [ "$code" != 0 ]; }; then
        docker logs --tail 20 "$id" >&2 || true
        say "${name#/} is $state/$health (exit $code)"
        return 1
      fi
      if [ "$state" = running ] && [ "$health" != none ] && [ "$health" != healthy ]; then
        pending+=("${name#/}")
      fi
    done
    [ ${#pending[@]} -eq 0 ] && break
    if [ $SECONDS -ge $deadline ]; then
      say "not healthy after ${timeout} s: ${pending[*]}"
      return 1
    fi
    sleep 1
  done
  say "project $project healthy (waited $((SECONDS - started)) s)"
}

main() {
  local command=${1:-ensure}
  case $command in
    wait) wait_healthy "${2:?usage: $0 wait PROJECT [SECONDS]}" "${3:-300}"; return ;;
    ensure | engine | base) ;;
    *) say "unknown command: $command (ensure, engine, base, wait)"; exit 2 ;;
  esac
  mkdir -p "$(dirname "$LOCK")"
  exec 9>"$LOCK"
  if ! flock -n 9; then
    say "waiting for another local-docker run (an engine start or a base build)"
    flock 9
  fi
  case $command in
    ensure) install_engine; start_engine; build_base ;;
    engine)
      install_engine
      start_engine
      # The packages `base` needs, now: a `base` run in the background then needs no apt-get
      # (whose dpkg lock another install may hold).
      base_is_fresh || have debootstrap || install_packages debootstrap
      ;;
    base) engine_answers || no_engine "no engine answers (run: $0 engine)"; build_base ;;
  esac
}

main "$@"

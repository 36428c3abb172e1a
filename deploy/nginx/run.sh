#!/bin/sh
# Entry of the compose `nginx` service: nginx, reloaded whenever a node's address changes.
#
# nginx looks up the names of an upstream's servers when it loads its configuration, never in
# between (open-source nginx re-resolves them only from 1.27.3 on, with `resolve`; Debian's
# 1.22 cannot). A node container that restarts or is recreated may come back on another address,
# and nginx would go on sending that node's share to the old one. So ask the container's resolver
# (Docker's DNS) every CRM_NGINX_RESOLVE_S seconds and reload when an answer changed: the
# upstream groups keep their balancing and failover, and a reload keeps open connections.
set -eu
conf=${CRM_NGINX_CONF:-/etc/nginx/nginx.conf}
every=${CRM_NGINX_RESOLVE_S:-2}
# The host names of the upstream servers (`server node-1:8000 ...;`), each once.
names=$(sed -n 's/^[[:space:]]*server[[:space:]][[:space:]]*\([A-Za-z][A-Za-z0-9.-]*\):[0-9].*/\1/p' "$conf" | sort -u)

# "name address..." per upstream name; fails when a name does not resolve (a stopped node:
# nginx would refuse a configuration it cannot resolve, so wait for the node instead).
addresses() {
    for name in $names; do
        found=$(getent hosts "$name" | awk '{print $1}' | sort -u | tr '\n' ' ')
        [ -n "$found" ] || return 1
        echo "$name $found"
    done
}

nginx -c "$conf" -g 'daemon off;' &
nginx_pid=$!
trap 'kill -TERM "$nginx_pid" 2>/dev/null || true' TERM INT
trap 'kill -QUIT "$nginx_pid" 2>/dev/null || true' QUIT
known=$(addresses || true)
while kill -0 "$nginx_pid" 2>/dev/null; do
    sleep "$every" &
    wait $! || true  # a signal interrupts the wait, not the sleep: the trap runs at once
    now=$(addresses) || continue
    if [ "$now" != "$known" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        echo "nginx-run: upstream addresses changed, reloading: $(echo "$now" | tr '\n' ';')" >&2
        nginx -c "$conf" -s reload && known=$now
    fi
done
wait "$nginx_pid"

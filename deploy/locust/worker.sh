#!/bin/sh
# Entry of the compose `locust-worker` service: a Locust worker of a `crm-harness load` master.
#
# The master (`crm-harness load --remote-workers N --report DIR`) writes the run's
# configuration (target URL, JWT secret, workload) to DIR/load-config.json; the workers read it
# from there and write their measurements into DIR, which the master merges. DIR is a volume
# both sides mount. So: wait until that file is there, then run Locust as a worker with it.
set -eu
: "${CRM_LOAD_CONFIG:?set CRM_LOAD_CONFIG to the master's DIR/load-config.json}"
waited=0
until [ -f "$CRM_LOAD_CONFIG" ]; do
    waited=$((waited + 1))
    if [ "$waited" -gt "${CRM_WORKER_WAIT_S:-300}" ]; then
        echo "locust-worker: no run configuration at $CRM_LOAD_CONFIG after ${waited}s" >&2
        exit 1
    fi
    sleep 1
done
echo "locust-worker: using $CRM_LOAD_CONFIG"
export CRM_LOAD_CONFIG
exec locust "$@"

#!/bin/sh
# Entry of the compose `locust-worker` service: a Locust worker of a `crm-harness load` master.
#
# The master (`crm-harness load --remote-workers N`) writes the run's configuration to a fresh
# temporary directory under $TMPDIR, which compose puts on the `loadruns` volume shared with the
# workers; the workers' part files go to the run directory on that same volume, where the master
# merges them. So: wait for the newest configuration, then run Locust as a worker with it.
set -eu
: "${TMPDIR:?TMPDIR must be the directory the master writes its run configuration under}"
waited=0
while :; do
    config=$(ls -t "$TMPDIR"/crm-load-*/load-config.json 2>/dev/null | head -n 1 || true)
    [ -n "$config" ] && break
    waited=$((waited + 1))
    if [ "$waited" -gt "${CRM_WORKER_WAIT_S:-300}" ]; then
        echo "locust-worker: no run configuration under $TMPDIR after ${waited}s" >&2
        exit 1
    fi
    sleep 1
done
echo "locust-worker: using $config"
CRM_LOAD_CONFIG=$config exec locust "$@"

#!/bin/sh
# Entry of the compose `locust-master` service: `crm-harness load` as the Locust master.
#
# A configuration left on the shared volume by an earlier run must not reach this run's
# workers: remove it first. The service turns healthy once the new one is written, and the
# workers start only then (docker-compose.yml: depends_on ... service_healthy).
set -eu
: "${CRM_LOAD_CONFIG:?set CRM_LOAD_CONFIG to DIR/load-config.json of the run}"
rm -f "$CRM_LOAD_CONFIG"
exec crm-harness "$@"

#!/usr/bin/env bash
# run.sh is `make run`: bring up the local stack (scripts/stack.sh), apply
# the schemas, create the cluster over the two shard databases, seed demo
# data and run the gateway in the foreground. Running it again reuses all of
# it: every step is idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/stack.sh up
eval "$(scripts/stack.sh env)"
export MEDCARD_CATALOG_DSN MEDCARD_SHARD_DSNS MEDCARD_REDIS_ADDR

gateway=bin/gateway
"$gateway" migrate --shard-dsns "$MEDCARD_SHARD_DSNS"
"$gateway" shard init --shard-dsns "$MEDCARD_SHARD_DSNS"
"$gateway" seed --persons "${MEDCARD_DEMO_PERSONS:-1000}"
"$gateway" shard status
echo
echo "Starting the gateway (Ctrl-C stops it; 'make stop' stops the databases too)."
exec "$gateway" serve --demo --log-format console --listen "${MEDCARD_LISTEN:-127.0.0.1:8080}"

#!/usr/bin/env bash
# run.sh is `make run`: bring up the local stack (scripts/stack.sh), apply
# the schemas, create the cluster over the two shard databases, seed demo
# data (the demo systems' secret sealed with .stack/secret.key, which
# scripts/stack.sh makes once), make a local CA and server certificate (gateway dev-cert, in
# .stack/tls) and run the gateway in the foreground: HTTPS on
# MEDCARD_LISTEN (127.0.0.1:8443), asking for client certificates of that
# CA, and plain HTTP beside it on MEDCARD_LISTEN_HTTP (127.0.0.1:8080; set
# it empty for none) for browsers and tools that do not trust the CA yet,
# where PasswordText is refused. Running it again reuses all of it: every
# step is idempotent, and the CA is kept, so what trusts it once goes on
# trusting.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/stack.sh up
eval "$(scripts/stack.sh env)"
export MEDCARD_CATALOG_DSN MEDCARD_SHARD_DSNS MEDCARD_REDIS_ADDR MEDCARD_SECRET_KEY_FILE

gateway=bin/gateway
"$gateway" migrate --shard-dsns "$MEDCARD_SHARD_DSNS"
"$gateway" shard init --shard-dsns "$MEDCARD_SHARD_DSNS"
"$gateway" seed --demo --persons "${MEDCARD_DEMO_PERSONS:-1000}"
"$gateway" shard status
tls="$(pwd)/.stack/tls"
"$gateway" dev-cert --dir "$tls" >/dev/null # the banner below says where the CA is and how to trust it
echo
echo "Starting the gateway (Ctrl-C stops it; 'make stop' stops the databases too)."
exec "$gateway" serve --demo --log-format console \
	--listen "${MEDCARD_LISTEN:-127.0.0.1:8443}" --listen-http "${MEDCARD_LISTEN_HTTP-127.0.0.1:8080}" \
	--tls-cert "$tls/server.pem" --tls-key "$tls/server-key.pem" --tls-client-ca "$tls/ca.pem" --demo-ca "$tls/ca.pem"

#!/bin/sh
# Prints the Secrets the prod overlay expects (it renders none, so no password is in git),
# each password fresh and random. Create them once, before the first deploy:
#   make k8s-secrets          (or: k8s/overlays/prod/secrets.sh | kubectl -n ledgerflux create -f -)
# `create` refuses to overwrite: rotating a password is a deliberate step (README,
# "Kubernetes"). tests/k8s deploys the prod overlay's pods with this script's output.
#
# Passwords are a letter and 31 letters or digits: nats-server parses an environment
# variable's value as configuration (`true`, `12KB`, `a,b` would not stay the password),
# and the pods expand them into postgres:// URLs unescaped.
set -eu

password() {
  first=$(LC_ALL=C tr -dc 'A-Za-z' </dev/urandom | head -c 1)
  rest=$(LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 31)
  printf '%s%s' "$first" "$rest"
}

# secret NAME KEY=VALUE...
secret() {
  printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n' "$1"
  printf '  labels:\n    app.kubernetes.io/part-of: ledgerflux\ntype: Opaque\nstringData:\n'
  shift
  for kv in "$@"; do
    printf "  %s: '%s'\n" "${kv%%=*}" "${kv#*=}"
  done
}

secret ledgerflux-postgres \
  POSTGRES_USER=ledgerflux \
  "POSTGRES_PASSWORD=$(password)" \
  POSTGRES_DB=ledgerflux
echo '---'
secret ledgerflux-db-logins \
  "SNAPSHOTTER_DB_PASSWORD=$(password)" \
  "GATEWAY_DB_PASSWORD=$(password)" \
  "GRAFANA_DB_PASSWORD=$(password)"
echo '---'
# One per user of nats/auth.conf (services/common/permissions.ts, NATS_USERS).
secret ledgerflux-nats \
  "NATS_PASSWORD_MIGRATE=$(password)" \
  "NATS_PASSWORD_INGESTOR=$(password)" \
  "NATS_PASSWORD_NORMALIZER=$(password)" \
  "NATS_PASSWORD_SNAPSHOTTER=$(password)" \
  "NATS_PASSWORD_GATEWAY=$(password)" \
  "NATS_PASSWORD_DLQ=$(password)"
echo '---'
secret grafana-admin \
  GF_SECURITY_ADMIN_USER=admin \
  "GF_SECURITY_ADMIN_PASSWORD=$(password)"

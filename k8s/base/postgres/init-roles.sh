#!/bin/sh
# Runs once, when the postgres image initialises an empty data directory
# (/docker-entrypoint-initdb.d). Creates the login roles of the services that must not own
# the schema: the snapshotter writes, the gateway and Grafana only read. The group roles
# exist first so `ledgerflux migrate` (the owner, POSTGRES_USER) grants them their rights.
# tests/k8s runs this script against a real PostgreSQL.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v snapshotter_pw="$SNAPSHOTTER_PASSWORD" \
  -v gateway_pw="$GATEWAY_PASSWORD" \
  -v grafana_pw="$GRAFANA_PASSWORD" <<'SQL'
CREATE ROLE ledgerflux_writer NOLOGIN;
CREATE ROLE ledgerflux_reader NOLOGIN;
CREATE ROLE ledgerflux_snapshotter LOGIN PASSWORD :'snapshotter_pw' IN ROLE ledgerflux_writer;
CREATE ROLE ledgerflux_gateway LOGIN PASSWORD :'gateway_pw' IN ROLE ledgerflux_reader;
CREATE ROLE ledgerflux_grafana LOGIN PASSWORD :'grafana_pw' IN ROLE ledgerflux_reader;
SQL

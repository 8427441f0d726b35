#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised. POSTGRES_USER (erx) runs the
# migrations and owns the tables; erx_api is the login of the API and the worker, a member of
# erx_app (the role the migrations grant, see db/migrations/versions/0009_audit_lockdown.py)
# that owns nothing: it cannot TRUNCATE, ALTER or DROP a table, even after RESET ROLE.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$ERX_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE erx_app NOLOGIN;
CREATE ROLE erx_api LOGIN PASSWORD :'app_password' IN ROLE erx_app;
SQL

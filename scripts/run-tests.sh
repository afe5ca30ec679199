#!/usr/bin/env bash
# Runs the suite on SQLite, then again on a throwaway PostgreSQL cluster on loopback.
# SEKISHO_TEST_DATABASES="sqlite" or "postgresql" runs one pass only; arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATABASES_TO_TEST=${SEKISHO_TEST_DATABASES:-sqlite postgresql}

if [[ " $DATABASES_TO_TEST " == *" sqlite "* ]]; then
  echo "== test suite on SQLite =="
  # Tests marked "once" (heavy) run in the PostgreSQL pass when there is one.
  skip_once=""
  if [[ " $DATABASES_TO_TEST " == *" postgresql "* ]]; then skip_once=1; fi
  SEKISHO_SKIP_ONCE=$skip_once $PY -m pytest -q -p no:cacheprovider "$@"
fi
if [[ " $DATABASES_TO_TEST " != *" postgresql "* ]]; then
  exit 0
fi

echo "== test suite on PostgreSQL =="
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ]; then
  echo "PostgreSQL server binaries not found (make test installs the postgresql package)" >&2
  exit 1
fi
PGDIR=$(mktemp -d /tmp/sekisho-pg.XXXXXX)
PGPORT=${SEKISHO_TEST_PGPORT:-55432}
cleanup() {
  if [ -f "$PGDIR/data/postmaster.pid" ]; then
    run_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PGDIR"
}
trap cleanup EXIT
# PostgreSQL refuses to run as root: run it as the unprivileged 'postgres' user then.
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$PGDIR"
  run_pg() { su postgres -s /bin/bash -c "$(printf '%q ' "$@")"; }
else
  run_pg() { "$@"; }
fi
run_pg "$PGBIN/initdb" -D "$PGDIR/data" -U sekisho --auth=trust -E UTF8 >/dev/null
if ! run_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR -c fsync=off -c synchronous_commit=off" start >/dev/null; then
  echo "PostgreSQL did not start on 127.0.0.1:$PGPORT (SEKISHO_TEST_PGPORT picks another port):" >&2
  cat "$PGDIR/log" >&2
  exit 1
fi
DATABASE_URL="postgresql://sekisho@127.0.0.1:$PGPORT/postgres" \
  $PY -m pytest -q -p no:cacheprovider "$@"

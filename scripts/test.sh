#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine with Python 3.11, then run it.
# This is the README's test command; .ci/run calls it unchanged.
#
#   - Debian packages: dcmtk (storescu/echoscu/storescp), dicom3tools (dciodvfy), orthanc (a real PACS),
#     postgresql (the multi-worker queue), pixelmed-apps (DicomSRValidator), a Java runtime for it.
#   - A virtual environment in .venv with torch 2.13.0 (the CPU build) and the project with its test extras.
#   - A PostgreSQL role and database for the tests, on the local cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(dcmtk dicom3tools orthanc postgresql pixelmed-apps default-jre-headless)
missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[test]"

# PostgreSQL for the multi-worker queue tests: start the local cluster, create our role and database.
if command -v pg_lsclusters >/dev/null; then
    read -r pg_version pg_cluster _ < <(pg_lsclusters --no-header | head -n 1)
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO pg_ctlcluster "$pg_version" "$pg_cluster" start 2>/dev/null || true
    as_postgres() { if [ "$(id -u)" -eq 0 ]; then su postgres -c "$1"; else sudo -u postgres sh -c "$1"; fi; }
    for _ in $(seq 1 30); do as_postgres "psql -qtAc 'select 1'" >/dev/null 2>&1 && break; sleep 1; done
    as_postgres "psql -qtAc \"select 1 from pg_roles where rolname='dicomnode'\"" | grep -q 1 ||
        as_postgres "psql -qc \"create role dicomnode login password 'dicomnode'\""
    as_postgres "psql -qtAc \"select 1 from pg_database where datname='dicomnode_test'\"" | grep -q 1 ||
        as_postgres "psql -qc 'create database dicomnode_test owner dicomnode'"
    export DICOMNODE_TEST_POSTGRES_URL="postgresql+psycopg://dicomnode:dicomnode@127.0.0.1/dicomnode_test"
fi

.venv/bin/ruff check .
exec .venv/bin/pytest -q "$@"

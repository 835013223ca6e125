#!/usr/bin/env bash
# Installs what is missing, then runs the whole suite (unit, storage on SQLite and PostgreSQL, conformance).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export EG_TEST_POSTGRES_URL="${EG_TEST_POSTGRES_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"

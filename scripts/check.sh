#!/usr/bin/env bash
# Install the project with its test extras into .venv, then lint, type-check, run the tests and validate
# the example notebooks with nbval. The README's test command; .ci/run runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "== ruff";  .venv/bin/ruff check auriko_nb tests $([ -d bench ] && echo bench)
echo "== mypy";  .venv/bin/mypy auriko_nb
echo "== tests"; .venv/bin/python -m pytest tests --ignore=tests/browser
# Playwright's sync API keeps an event loop running in the main thread: its tests get their own run.
echo "== browser"; .venv/bin/python -m pytest tests/browser
echo "== notebooks (nbval)"
# The stored outputs are the offline simulation's (fixed seed): a key or gateway in the environment must not leak in.
env -u AURIKO_API_KEY -u AURIKO_BASE_URL -u AURIKO_NB_OFFLINE_SEED -u AURIKO_NB_OFFLINE_SPEED \
  .venv/bin/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg notebooks

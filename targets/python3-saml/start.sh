#!/bin/sh
# Starts the python3-saml target app from its virtualenv (made by `cargo xtask setup`).
# `exec`: the Python process takes this one's pid, so the SIGTERM the harness sends reaches
# the app itself (which stops and exits 0), and nothing is left behind.
set -eu
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    echo "python3-saml app: .venv is missing; run \`cargo xtask setup\` (or see README.md)" >&2
    exit 2
fi
exec .venv/bin/python app.py

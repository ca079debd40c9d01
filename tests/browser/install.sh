#!/usr/bin/env bash
# Installs axe-core (the accessibility engine the browser tests inject into
# pages) into tests/browser/node_modules, at the version package-lock.json pins.
# Needs npm (Debian's `npm` package); .ci/run installs it when missing.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error
test -f node_modules/axe-core/axe.min.js

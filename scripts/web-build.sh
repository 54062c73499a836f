#!/usr/bin/env bash
# Builds the web app (web/) to web/dist, which the `web` component embeds when it is built:
# installs the npm packages pinned in web/package-lock.json when they changed, then `vite build`.
# spin.toml's build command for the component runs this first.
set -euo pipefail
cd "$(dirname "$0")/../web"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent

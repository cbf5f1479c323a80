#!/usr/bin/env bash
# Refresh the console's vendored browser libraries from the npm registry, exactly as locked.
#
# `npm ci` installs the versions pinned in package-lock.json (change package.json and run
# `npm install --package-lock-only` first to move a version); the files the service serves are
# copied into ../static/vendor with each package's licence, and VERSIONS records what came from where.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --silent)
mods="$work/node_modules"

rm -rf "$out"
mkdir -p "$out/chart.js" "$out/htmx.org" "$out/swagger-ui-dist"
cp "$mods/chart.js/dist/chart.umd.min.js" "$mods/chart.js/LICENSE.md" "$out/chart.js/"
cp "$mods/htmx.org/dist/htmx.min.js" "$mods/htmx.org/LICENSE" "$out/htmx.org/"
cp "$mods/swagger-ui-dist/swagger-ui-bundle.js" "$mods/swagger-ui-dist/swagger-ui.css" \
   "$mods/swagger-ui-dist/LICENSE" "$out/swagger-ui-dist/"

{
  echo "# Vendored by rollout/console/vendor/refresh.sh from the npm registry (package-lock.json)."
  for pkg in chart.js htmx.org swagger-ui-dist; do
    node -e 'const p=require(process.argv[1]); console.log(`${p.name} ${p.version} ${p.license}`)' \
      "$mods/$pkg/package.json"
  done
} > "$out/VERSIONS"
cat "$out/VERSIONS"

#!/usr/bin/env bash
# Fails when any file imports another service's src/ or test/ by path (the lint rule
# paddock/import-boundaries says the same with more detail; this grep needs no install).
# Usage: scripts/check-imports.sh [dir]   (default: the repository)
set -euo pipefail
dir="${1:-$(dirname "$0")/..}"
# A relative specifier that climbs into <unit>/src|test|agent/, or a workspace package's src/test by name.
pattern="(from|import\\() *['\"](\\.\\./)+(services/|packages/)?[a-z0-9-]+/(src|test|agent)/|['\"]@paddock/[a-z0-9-]+/(src|test)/"
if hits="$(grep -rnE "$pattern" --include='*.ts' --include='*.mts' --include='*.mjs' --include='*.js' \
  --exclude-dir=node_modules --exclude-dir=.git "$dir" | grep -vE '/scripts/setup\.mjs:[0-9]+:.*packages/testing/src/docker-engine\.mjs')"; then
  echo "imports across a service's or package's boundary by path:" >&2
  echo "$hits" >&2
  exit 1
fi

#!/usr/bin/env bash
# Usage: .ci/openapi-validate.sh FILE_OR_DIR
#   go run ./openapi/cmd/openapi-dump -rules configs/rules > /tmp/openapi.json && .ci/openapi-validate.sh /tmp/openapi.json
#
# Validates OpenAPI 3.1 documents with Redocly CLI, a third-party validator
# installed from the npm registry into a temporary directory (the only
# network access; the lint itself runs offline). FILE_OR_DIR is a document,
# a directory of *.json documents, or a rules directory (*.lua), whose
# document is generated with openapi/cmd/openapi-dump first. Exits non-zero
# with the validator's messages when a document is invalid.
#
# Redocly CLI checks the document's structure against the OpenAPI 3.1 type
# tree (every key, every type, JSON Schema keywords included), resolves
# every $ref, and runs its "spec" ruleset (unique operationIds and
# parameters, declared path parameters, ...) plus the rules set to error in
# redocly.yaml below. Warnings are printed and do not fail.
set -euo pipefail

validator="@redocly/cli@2.77.0" # needs Node.js >= 20.19 (or >= 22.12)

usage() { sed -n '2,3p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 1 ] || usage
target=$1
[ -e "$target" ] || { echo "openapi-validate: $target: no such file or directory" >&2; exit 2; }

root="$(cd "$(dirname "$0")/.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

docs=()
if [ -d "$target" ] && compgen -G "$target/*.lua" >/dev/null; then
  (cd "$root" && go run ./openapi/cmd/openapi-dump -rules "$(cd "$target" && pwd)") > "$tmp/openapi.json"
  docs=("$tmp/openapi.json")
elif [ -d "$target" ]; then
  for f in "$target"/*.json; do
    [ -e "$f" ] && docs+=("$f")
  done
  [ ${#docs[@]} -gt 0 ] || { echo "openapi-validate: $target holds no *.json document and no *.lua rules" >&2; exit 2; }
else
  docs=("$target")
fi

echo "openapi-validate: installing $validator" >&2
if ! npm install --prefix "$tmp/npm" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "$validator" >"$tmp/npm.log" 2>&1; then
  cat "$tmp/npm.log" >&2
  echo "openapi-validate: could not install $validator" >&2
  exit 2
fi

cat > "$tmp/redocly.yaml" <<'EOF'
extends:
  - spec
rules:
  security-defined: error
  operation-operationId: error
  operation-2xx-response: error
  no-enum-type-mismatch: error
  no-required-schema-properties-undefined: error
  no-schema-type-mismatch: error
  spec-components-invalid-map-name: error
  no-unused-components: warn
  no-ambiguous-paths: warn
EOF

# No telemetry, no update check: the lint needs no network.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_COLOR=1

status=0
for doc in "${docs[@]}"; do
  # Redocly takes any 3.x string; the version must be a 3.1 release.
  if ! node -e '
    const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).openapi;
    if (!/^3\.1\.\d+$/.test(v)) { console.error(`openapi is ${JSON.stringify(v)}, not a 3.1.x version`); process.exit(1); }
  ' "$doc"; then
    echo "openapi-validate: $doc: INVALID" >&2
    status=1
    continue
  fi
  if "$tmp/npm/node_modules/.bin/redocly" lint --config "$tmp/redocly.yaml" --lint-config error \
       --format stylish --max-problems 1000 "$doc" 2>&1 | grep -v '[║╔╚]'; [ "${PIPESTATUS[0]}" -eq 0 ]; then
    echo "openapi-validate: $doc: valid OpenAPI 3.1" >&2
  else
    echo "openapi-validate: $doc: INVALID" >&2
    status=1
  fi
done
exit $status

#!/usr/bin/env bash
# The whole test suite, exactly what CI runs (.ci/run = npm ci && npm test).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
mkdir -p .cache

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  bash scripts/install-system-deps.sh || { echo "test: could not install the system packages" >&2; exit 1; }
else
  echo "test: NOTE not root (uid=$(id -u)): system packages not installed; the e2e and image suites will report SKIPPED"
fi

status=0
run() {
  echo
  echo "=== $* ==="
  "$@" || { echo "=== FAILED: $* ==="; status=1; }
}

run npm run --silent build
run npm run --silent lint
# The exit status and the secret scan's line go to the summary: vitest's JSON says "passed" even when its
# global teardown (the whole-suite secret scan) failed.
rm -f .cache/vitest.status .cache/secret-scan.txt
run bash -c 'LSP_SECRET_SCAN_REPORT=.cache/secret-scan.txt npx vitest run --reporter=default --reporter=json --outputFile=.cache/vitest.json; s=$?; echo "$s" > .cache/vitest.status; exit "$s"'
# Runtime dependency advisories: npm audit where the endpoint answers, else the reviewed offline snapshot.
run npm run --silent audit
# The e2e's proxies' output and the credentials its emulators issue are scanned for secrets too.
e2e_logs=$(mktemp -d -t lsp-e2e-logs-XXXXXX)
run bash -c 'LSP_TEST_LOG_DIR="$1" npm run --silent e2e 2>&1 | tee .cache/e2e.log; exit "${PIPESTATUS[0]}"' _ "$e2e_logs"
run bash -c 'npx tsx test/helpers/secret-scan-cli.ts "$1" e2e-secrets 2>&1 | tee .cache/e2e-secrets.log; exit "${PIPESTATUS[0]}"' _ "$e2e_logs"
run bash -c 'npm run --silent test:images 2>&1 | tee .cache/images.log; exit "${PIPESTATUS[0]}"'

echo
node scripts/summarize-tests.mjs .cache/vitest.json --vitest-status .cache/vitest.status --secret-scan .cache/secret-scan.txt .cache/e2e.log .cache/e2e-secrets.log .cache/images.log
exit "$status"

#!/bin/sh
# ctest's entry for the browser test (tests/CMakeLists.txt): node runs run.mjs with these arguments. Without node the
# test fails, saying how to get it, rather than being skipped.
if ! command -v node >/dev/null 2>&1; then
  echo "FAIL node is not installed: scripts/install-deps.sh test installs Debian's nodejs, npm and chromium" \
    "and runs npm ci in tests/browser" >&2
  exit 1
fi
exec node "$(dirname "$0")/run.mjs" "$@"

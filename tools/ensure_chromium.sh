#!/usr/bin/env bash
# Make sure a Chromium for the browser tests is on this machine (Debian/Ubuntu: the `chromium` package).
# Playwright drives it through executable_path; it cannot download a browser of its own here.
# Elsewhere: set KL_BOOK_CHROMIUM=/path/to/chromium, or KL_BOOK_PLAYWRIGHT_BROWSER=1 for Playwright's own browser.
set -euo pipefail
if [ -n "${KL_BOOK_CHROMIUM:-}" ] || [ "${KL_BOOK_PLAYWRIGHT_BROWSER:-}" = "1" ] || command -v chromium >/dev/null 2>&1; then
  exit 0
fi
exec bash "$(dirname "$0")/apt_install.sh" "the browser test (make test-site)" chromium fonts-dejavu-core

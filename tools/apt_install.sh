#!/usr/bin/env bash
# Install Debian/Ubuntu packages that a part of the project needs (shared by ensure_chromium.sh, ensure_texlive.sh
# and .ci/run):
#     bash tools/apt_install.sh "WHAT NEEDS THEM" PACKAGE...
# As root through apt-get, otherwise through sudo; without apt-get or a way to become root, it prints the command
# to run and fails. --no-install-recommends keeps out documentation and other extras.
set -euo pipefail
what=$1; shift
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$what needs the Debian packages $* (or their equivalents on this system): install them, then run again." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "$what needs: apt-get install --no-install-recommends $*  (as root), then run again." >&2
    exit 1
  fi
fi
echo "--- installing Debian packages for $what: $*"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null

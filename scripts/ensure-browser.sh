#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when it is missing (never a browser download).
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
command -v apt-get >/dev/null || exit 1
if [ "$(id -u)" != 0 ]; then exit 1; fi
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1
[ -x /usr/bin/chromium ]

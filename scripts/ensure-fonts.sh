#!/usr/bin/env bash
# Installs a CJK-capable font (Debian's Noto CJK) for the visible-label tests when none is present.
set -u
if command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh 2>/dev/null | head -n1)" ]; then exit 0; fi
command -v apt-get >/dev/null || exit 1
if [ "$(id -u)" != 0 ]; then exit 1; fi
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk) >/dev/null 2>&1
[ -n "$(fc-list :lang=zh 2>/dev/null | head -n1)" ]

#!/usr/bin/env bash
# Installs everything the gateway and its tests need on a fresh Debian machine: idempotent, safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in openssl:openssl curl:curl jq:jq pebble-challtestsrv:pebble pebble:pebble lego:lego scepclient:scep scepserver:scep \
           javac:default-jdk-headless; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool##*:}")
done
# Bouncy Castle's EST client (conformance/test_est_bouncycastle.py)
[ -f /usr/share/java/bcpkix.jar ] || need_apt+=(libbcpkix-java)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[test,bench]"
  touch "$stamp"
fi

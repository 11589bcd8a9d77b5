#!/usr/bin/env bash
# Installs the Debian packages the test suite and deploy checks need, only if missing:
# redis-server (shared-store tests), chromium (browser tests), docker-compose (compose validation).
# buildah and curl are installed by ../shared/tools/image-smoke itself.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "system packages present: redis-server chromium docker-compose"
fi

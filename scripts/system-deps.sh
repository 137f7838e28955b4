#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Huifang needs, or print the command when not root.
#   scripts/system-deps.sh run    — what serving needs: WeasyPrint's libraries, HarfBuzz subsetting, a CJK font
#                                   (and PostgreSQL's client programs when DATABASE_URL names PostgreSQL)
#   scripts/system-deps.sh test   — also what the tests use: Chromium, poppler-utils, zbar-tools, Redis
set -euo pipefail
mode="${1:-run}"
packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-noto-cjk
          shared-mime-info fontconfig)
if [ "$mode" = "test" ]; then
  packages+=(chromium poppler-utils zbar-tools postgresql-client redis-server)
elif [[ "${DATABASE_URL:-}" == postgres* ]]; then
  packages+=(postgresql-client)  # pg_dump and pg_restore, for `flask backup`
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Please install these packages with your system's package manager: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

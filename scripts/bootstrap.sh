#!/usr/bin/env bash
# Prepare this machine for the platform and print the virtualenv's path on the last line.
# - system libraries from Debian (GDAL/GEOS for the map widget; with --browser, for the tests: Chromium and nginx);
# - a virtualenv outside the checkout, keyed by the hash of requirements.txt, so a clean clone reuses it.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[[ "${1:-}" == "--browser" ]] && want_browser=1

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: missing system packages ($*); install them with: sudo apt-get install -y $*" >&2
    exit 1
  fi
  echo "bootstrap: installing $* from Debian" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") >&2
}

missing=()
ldconfig -p | grep -q 'libgdal\.so' || missing+=(libgdal32)
ldconfig -p | grep -q 'libgeos_c\.so' || missing+=(libgeos-c1v5)
if (( want_browser )) && [[ ! -x /usr/bin/chromium ]]; then missing+=(chromium); fi
# nginx: the production test runs Debian's nginx with deploy/nginx/default.conf.template in front of gunicorn.
if (( want_browser )) && [[ ! -x /usr/sbin/nginx ]]; then missing+=(nginx); fi
if (( ${#missing[@]} )); then apt_install "${missing[@]}"; fi

command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv >&2
key=$(cat requirements.txt .python-version 2>/dev/null | sha256sum | cut -c1-16)
venv="${GEOLOC_VENV_ROOT:-$HOME/.cache/geoloc-platform}/venv-$key"
if [[ ! -f "$venv/.complete" ]]; then
  echo "bootstrap: creating $venv (first run only: torch and its CUDA libraries are about 3 GB)" >&2
  rm -rf "$venv"
  # uv, not pip: this machine's pip prefers a local CPU-only torch wheel that breaks torchvision.
  uv venv -q --python 3.11 "$venv" >&2
  VIRTUAL_ENV="$venv" uv pip install -q -r requirements.txt >&2
  touch "$venv/.complete"
fi
ln -sfn "$venv" .venv
echo "$venv"

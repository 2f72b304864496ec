#!/usr/bin/env bash
# Installs what aiogstwebrtc needs on Debian 12 or 13, doing nothing that is already done.
#   scripts/bootstrap.sh            system packages + .venv with the package and test extras
#   BOOTSTRAP_EXTRAS=bench scripts/bootstrap.sh   other extras
#   AIOGST_SKIP_APT=1 scripts/bootstrap.sh        only the .venv (another distribution, with
#                                                 the packages of README "Other distributions")
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

APT_PACKAGES=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-nice
  gstreamer1.0-x gstreamer1.0-plugins-base-apps
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-plugins-bad-1.0
  gir1.2-gst-rtsp-server-1.0
  libgirepository1.0-dev libcairo2-dev pkg-config gcc
  python3-dev python3-venv iproute2 util-linux nftables
  coturn redis-server
)
# Servers the tests start themselves, inside their own namespaces (NAT traversal, cluster):
# installing them must not leave a TURN or Redis service running on this machine.
SERVICES_NOT_STARTED=(coturn redis-server)
if [ -n "${BOOTSTRAP_APT_EXTRA:-}" ]; then
  # shellcheck disable=SC2206
  APT_PACKAGES+=(${BOOTSTRAP_APT_EXTRA})
fi

# Only Debian 12 (bookworm) and 13 (trixie) are tested; elsewhere say what is needed.
codename="$( (. /etc/os-release 2>/dev/null && echo "${ID:-}:${VERSION_CODENAME:-}") || true)"
if [ -z "${AIOGST_SKIP_APT:-}" ]; then
  case "$codename" in
    debian:bookworm|debian:trixie) ;;
    *)
      {
        echo "bootstrap: this system (${codename:-unknown}) is not Debian 12 or 13, the releases we test."
        echo "bootstrap: install the equivalents of these Debian packages with its package manager"
        echo "bootstrap: (README \"Other distributions\" names them for Ubuntu 24.04 and Fedora):"
        echo "bootstrap:   ${APT_PACKAGES[*]}"
        echo "bootstrap: then run again with AIOGST_SKIP_APT=1 to build only the .venv."
      } >&2
      exit 2 ;;
  esac
fi

missing=()
[ -n "${AIOGST_SKIP_APT:-}" ] && APT_PACKAGES=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing apt packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # policy-rc.d 101 = "do not start services" for the length of the install (sysvinit and
  # containers); with systemd the units are then disabled and stopped as well.
  policy=/usr/sbin/policy-rc.d
  had_policy=0
  [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { [ "$had_policy" -eq 0 ] && $SUDO rm -f "$policy"; exit 1; }
  [ "$had_policy" -eq 0 ] && $SUDO rm -f "$policy"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    for unit in "${SERVICES_NOT_STARTED[@]}"; do
      $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
    done
  fi
fi

PY="${PYTHON:-python3}"
extras="${BOOTSTRAP_EXTRAS:-test}"
stamp=".venv/.bootstrap-$(echo "$extras" | tr ',' '-')"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing aiogstwebrtc[$extras] into .venv (PyGObject builds from source)"
  log=.venv/bootstrap-pip.log
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e ".[$extras]"; } >"$log" 2>&1; then
    cat "$log"
    echo "bootstrap: pip install failed (log above, kept in $log)" >&2
    exit 1
  fi
  touch "$stamp"
fi

#!/usr/bin/env bash
# Runs `make test test-wheel` on the *other* supported Debian release in a debootstrap chroot:
# Debian 13 (trixie, GStreamer 1.26) on a Debian 12 host, Debian 12 (bookworm, GStreamer
# 1.22) on a Debian 13 host. Needs root.
#
#   scripts/test-other-release.sh            test HEAD's commit in the other release
#   AIOGST_RELEASE=trixie scripts/...         choose the release explicitly
#   AIOGST_CHROOT_CACHE=/dir scripts/...      where chroots are kept (default /var/cache/aiogstwebrtc)
#   AIOGST_CHROOT_TARGET="make test" ...      what to run inside (default: make test test-wheel)
#   AIOGST_SOAK_SECONDS=600 scripts/...       the produce soak's churn time there (default
#                                             150 s: fds/sockets/threads checked, the RSS
#                                             slope only over >= 600 s, which the host runs)
#
# The chroot is built once from the mirror in the host's own apt sources and kept between
# runs outside the repository; every run clones the commit afresh into it. Everything
# mounted lives in a mount namespace of this run's own and is unmounted on every exit
# path. Exits non-zero, with a clear last line, when anything fails.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

say() { echo "test-other-release: $*"; }
fail() { echo "test-other-release: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, chroot and mounts)"
# Everything runs in a private mount namespace of its own: what is mounted into the chroot
# is gone when this script ends, however it ends (even killed), and mounts that another
# run or an interrupted one left on the chroot cannot make this one fail ("sysfs already
# mounted"): they are taken off in this namespace only.
if [ -z "${AIOGST_OWN_MOUNT_NS:-}" ]; then
  command -v unshare >/dev/null || fail "needs unshare (util-linux)"
  AIOGST_OWN_MOUNT_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
[ -r /etc/os-release ] || fail "no /etc/os-release: not a Debian host"
# shellcheck disable=SC1091
host_codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
case "${AIOGST_RELEASE:-}" in
  "") case "$host_codename" in
        bookworm) release=trixie ;;
        trixie) release=bookworm ;;
        *) fail "host is '${host_codename:-unknown}': only Debian 12 (bookworm) and 13 (trixie) are supported" ;;
      esac ;;
  bookworm|trixie) release="$AIOGST_RELEASE" ;;
  *) fail "AIOGST_RELEASE must be bookworm or trixie, not '$AIOGST_RELEASE'" ;;
esac

# The host's own Debian mirror (deb822 or one-line sources), else the default one.
mirror_for() {  # $1 = suffix of the archive ("" for debian, "-security" for security)
  local want="$1" uri
  uri="$( { grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
            grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
              awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}'; } |
          grep -E "/debian${want}/?$" | head -n1 || true)"
  echo "${uri:-http://deb.debian.org/debian${want}}"
}
mirror="$(mirror_for "")"
security_mirror="$(mirror_for "-security")"

cache="${AIOGST_CHROOT_CACHE:-/var/cache/aiogstwebrtc}"
root="$cache/chroot-$release"
target="${AIOGST_CHROOT_TARGET:-make test test-wheel}"
commit="$(git -C "$here" rev-parse HEAD)"

# ---- mounts, undone on every exit path ------------------------------------------------
mounted=()
cleanup() {
  local status=$? i
  for (( i=${#mounted[@]}-1; i>=0; i-- )); do
    umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" 2>/dev/null ||
      echo "test-other-release: could not unmount ${mounted[$i]}" >&2
  done
  if [ "$status" -ne 0 ]; then
    echo "test-other-release: FAILED on Debian $release (exit $status)" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mount_into() {  # $1 = mount args..., last = target below $root
  local dest="${*: -1}"
  mkdir -p "$dest"
  if mountpoint -q "$dest"; then
    umount -R -l "$dest" || fail "could not take the stale mount off $dest"
  fi
  mount "${@}"
  mounted+=("$dest")
}

# ---- build the chroot once ------------------------------------------------------------
if [ ! -f "$root/.aiogst-ready" ]; then
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      debootstrap debian-archive-keyring >/dev/null
  fi
  say "building a Debian $release chroot in $root from $mirror (once; kept for later runs)"
  rm -rf "$root.partial"
  mkdir -p "$cache"
  debootstrap --variant=minbase --include=ca-certificates,make,git,sudo \
    "$release" "$root.partial" "$mirror" >"$cache/debootstrap-$release.log" 2>&1 ||
    { tail -n 30 "$cache/debootstrap-$release.log"; fail "debootstrap of $release failed"; }
  cat >"$root.partial/etc/apt/sources.list" <<EOF
deb $mirror $release main
deb $mirror $release-updates main
deb $security_mirror $release-security main
EOF
  rm -rf "$root"
  mv "$root.partial" "$root"
  touch "$root/.aiogst-ready"
fi

# Some networks re-sign TLS for the package registries: trust what the host trusts.
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt \
    "$root/usr/local/share/ca-certificates/host-bundle.crt"
  chroot "$root" update-ca-certificates >/dev/null 2>&1 || fail "update-ca-certificates failed"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
# As an installed Debian does (debootstrap does not): the machine's name resolves locally.
# Without it Firefox asks the DNS server for it at every start (its profile lock names the
# host's address), out of the tests' namespaces, and waits 12 s there for no answer.
# And localhost is in /etc/hosts: a fresh chroot has none, and a test that connects to
# "localhost" failed with "Temporary failure in name resolution" there.
grep -qE '^127\.0\.0\.1[[:space:]](.*[[:space:]])?localhost([[:space:]]|$)' "$root/etc/hosts" 2>/dev/null ||
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >>"$root/etc/hosts"
name="$(hostname)"
grep -qw -- "$name" "$root/etc/hosts" 2>/dev/null || echo "127.0.1.1	$name" >>"$root/etc/hosts"

mount_into -t proc proc "$root/proc"
mount_into -t sysfs sysfs "$root/sys"
mount_into --bind /dev "$root/dev"
mount_into -t devpts devpts -o newinstance,ptmxmode=0666 "$root/dev/pts"
mount_into -t tmpfs -o size=4g,mode=1777 tmpfs "$root/dev/shm"
mount_into -t tmpfs -o mode=1777 tmpfs "$root/tmp"

# ---- a fresh clone of the commit ------------------------------------------------------
work="$root/work/aiogstwebrtc"
rm -rf "$work"
mkdir -p "$root/work"
git clone -q --no-hardlinks "$here" "$work"
git -C "$work" checkout -q "$commit"
say "testing commit ${commit:0:12} on Debian $release: $target"

start=$(date +%s)
set +e
chroot "$root" /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI="${CI:-}" \
  AIOGST_SOAK_SECONDS="${AIOGST_SOAK_SECONDS:-150}" \
  PIP_DEFAULT_TIMEOUT=180 PIP_DISABLE_PIP_VERSION_CHECK=1 \
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
  PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
  NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  /bin/sh -c "cd /work/aiogstwebrtc && $target"
status=$?
set -e
gst="$(chroot "$root" gst-launch-1.0 --version 2>/dev/null | sed -n 's/.*GStreamer \([0-9.]*\).*/\1/p' | head -n1)"
elapsed=$(( $(date +%s) - start ))
if [ "$status" -ne 0 ]; then
  fail "'$target' exited $status on Debian $release (GStreamer ${gst:-?}) after ${elapsed} s"
fi
say "PASSED on Debian $release (GStreamer ${gst:-?}) in ${elapsed} s"

#!/bin/sh
# Runs a command inside a fresh network namespace with no route out of this machine:
# loopback plus two linked interfaces with private addresses for ICE to gather.
#   scripts/in-netns.sh CMD [ARGS...]   (needs root, or unprivileged user namespaces)
# The interfaces are not named veth*: libnice ignores interfaces with that prefix.
set -e
if [ "${AIOGST_NETNS:-}" != "1" ]; then
  export AIOGST_NETNS=1
  if [ "$(id -u)" -eq 0 ]; then
    exec unshare --net -- "$0" "$@"
  else
    exec unshare --map-root-user --net -- "$0" "$@"
  fi
fi
ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
ip link add wrtc0 type veth peer name wrtc1
ip addr add 10.213.0.1/24 dev wrtc0
ip addr add 10.213.0.2/24 dev wrtc1
ip link set wrtc0 up
ip link set wrtc1 up
exec "$@"

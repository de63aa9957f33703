#!/usr/bin/env bash
# The Debian packages the real node (hack/node/node.ts, npm run test:node) needs, installed when
# missing (as root or with sudo): containerd (and its ctr), runc, the CNI plugins, iptables (the
# portmap plugin), mmdebstrap, gcc and libc6-dev (hack/node/images.sh).
set -uo pipefail
declare -A want=([/usr/bin/containerd]=containerd [/usr/sbin/runc]=runc [/usr/lib/cni/bridge]=containernetworking-plugins
  [/usr/sbin/iptables]=iptables [/usr/bin/mmdebstrap]=mmdebstrap [/usr/bin/gcc]=gcc [/usr/lib/x86_64-linux-gnu/libc.a]=libc6-dev)
missing=()
for f in "${!want[@]}"; do [[ -e $f ]] || missing+=("${want[$f]}"); done
((${#missing[@]} == 0)) && exit 0
SUDO=""
if [[ $(id -u) != 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "ensure-node-tools: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
  fi
fi
echo "ensure-node-tools: installing ${missing[*]} (Debian packages, once)" >&2
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
  echo "ensure-node-tools: could not install ${missing[*]}" >&2
exit 0

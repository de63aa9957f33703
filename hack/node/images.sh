#!/usr/bin/env bash
# Builds the images the real node runs, without a registry, a daemon or a pull, under the exact
# names the pod specs use (containerd normalises `busybox:1.36` to docker.io/library/busybox:1.36):
#
#   docker.io/library/busybox:1.36  Debian's busybox-static, one symlink per applet (/bin/sh, cp, du…):
#                                   the design text's prepare image, the platform's copy image
#                                   (COPY_IMAGE) and local-path-provisioner's helper image
#   docker.io/library/nginx:1.27    Debian's nginx and the libraries it links, plus busybox-static
#                                   for sh and cat: the accessor (ACCESSOR_IMAGE; uid 101 = nginx)
#   registry.k8s.io/pause:3.10      pause.c of the pinned k8s.io/kubernetes module (build/pause),
#                                   compiled static with the machine's gcc: containerd's sandbox image
#                                   and the stock placeholder (STOCK_PLACEHOLDER_IMAGE)
#
# Debian packages come from hack/node/images.lock (exact versions; hack/image/debian-extract.sh says
# what happens when the mirror has moved on) through mmdebstrap --variant=extract, as hack/image/build.sh does; layers are GNU tar with sorted names, owner 0:0,
# every mtime at SOURCE_DATE_EPOCH (default below), gzip -n, assembled by hack/image/oci-layout.mjs:
# equal inputs give equal manifest digests. The content differs from Docker Hub's images of the same
# names (Debian's busybox 1.35 and nginx 1.22 inside); the names are what the pod specs ask for.
#
# Output: one OCI archive per image in $GPU_RUNTIME_CACHE/images/<name>-<key>.tar, <key> hashing
# every input; an existing archive is reused. Prints `<image ref> <archive>` lines.
# hack/node/node.ts imports them with `ctr -n k8s.io images import`.
#
# Needs root (mmdebstrap extracts with owners), mmdebstrap and gcc (with the static libc of
# libc6-dev), the Debian mirrors (DEBIAN_MIRROR, default http://deb.debian.org/debian, with
# <suite>-updates, and DEBIAN_SECURITY_MIRROR for <suite>-security: nginx and libssl3 are pinned
# at their security updates), Go's module
# cache holding k8s.io/kubernetes (hack/build-tools.sh downloaded it), Node (NODE, default node).
set -euo pipefail
die() { echo "node/images.sh: $*" >&2; exit 1; }
say() { echo "node/images.sh: $*" >&2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${GPU_RUNTIME_CACHE:-$HOME/.cache/gpu-runtime}
out="$cache/images"
node=${NODE:-node}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1767225600} # 2026-01-01T00:00:00Z
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
lock="$here/images.lock"
suite=$(awk '$1 == "suite" { print $2 }' "$lock")
# shellcheck source=../image/debian-extract.sh
source "$repo/hack/image/debian-extract.sh"
pin() { awk -v p="$1" '$1 == p { print $1 "=" $2 }' "$lock"; }

kube_version=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$repo/hack/tools/go.mod")
pause_c="$(go env GOMODCACHE 2>/dev/null || echo "$HOME/go/pkg/mod")/k8s.io/kubernetes@$kube_version/build/pause/linux/pause.c"
[[ -f $pause_c ]] || (cd "$repo/hack/tools" && go mod download k8s.io/kubernetes >&2) || true
[[ -f $pause_c ]] || die "$pause_c is missing (run hack/build-tools.sh first)"

key=$( { sha256sum "$lock" "${BASH_SOURCE[0]}" "$repo/hack/image/oci-layout.mjs" "$repo/hack/image/debian-extract.sh" "$pause_c"; echo "epoch=$SOURCE_DATE_EPOCH"; } | sha256sum | cut -c1-12)
images=(busybox nginx pause)
declare -A ref=([busybox]=docker.io/library/busybox:1.36 [nginx]=docker.io/library/nginx:1.27 [pause]=registry.k8s.io/pause:3.10)

all_there=true
for i in "${images[@]}"; do [[ -f $out/$i-$key.tar ]] || all_there=false; done
if $all_there; then
  for i in "${images[@]}"; do echo "${ref[$i]} $out/$i-$key.tar"; done
  exit 0
fi

[[ $(id -u) == 0 ]] || die "mmdebstrap extracts packages with their owners: run as root"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install -y mmdebstrap"
command -v gcc >/dev/null || die "gcc is missing: apt-get install -y gcc libc6-dev"
started=$(date +%s)
mkdir -p "$out"
work=$(mktemp -d "$out/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT

extract() { # <rootfs> <package>...: the pinned packages, extracted, without what a runtime provides
  local root=$1; shift
  local debs; debs=$(for p in "$@"; do pin "$p"; done | paste -sd,)
  [[ $(tr ',' '\n' <<<"$debs" | grep -c .) == "$#" ]] || die "hack/node/images.lock lacks one of: $*"
  debian_extract "$root" "$suite" "$debs" "deb $mirror $suite main" "deb $mirror $suite-updates main" \
    "deb $security_mirror $suite-security main" ||
    die "mmdebstrap failed for $debs: is $mirror reachable?"
  rm -rf "$root"/dev/* "$root"/etc/apt "$root"/etc/dpkg "$root"/var/lib/apt "$root"/var/lib/dpkg "$root"/var/cache/* \
    "$root"/.debian-packages "$root"/var/log/* "$root"/etc/resolv.conf "$root"/etc/hostname "$root"/etc/fstab "$root"/etc/hosts
  mkdir -p "$root/tmp" "$root/etc"
  chmod 1777 "$root/tmp"
}

applets() { # <rootfs>: /bin/<applet> -> busybox for every applet of the extracted busybox
  local root=$1 a
  for a in $("$root/bin/busybox" --list-full); do
    [[ -e $root/$a || -L $root/$a ]] && continue
    mkdir -p "$root/$(dirname "$a")"
    ln -s /bin/busybox "$root/$a"
  done
}

layer() { # <dir> <out.tar.gz>
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner --owner=0 --group=0 \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$1" -cf - . | gzip -n -9 >"$2"
}

image() { # <name> <rootfs> <config fragment json>
  local name=$1 root=$2 config=$3 d="$work/$1"
  mkdir -p "$d"
  layer "$root" "$d/layer.tar.gz"
  printf '%s' "$config" >"$d/config.json"
  "$node" "$repo/hack/image/oci-layout.mjs" "$d/layout" "${ref[$name]}" "$d/config.json" "$d/layer.tar.gz" >"$d/digest"
  (cd "$d/layout" && tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner --owner=0 --group=0 --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$d/image.tar" oci-layout index.json blobs)
  mv "$d/image.tar" "$out/$name-$key.tar"
  say "${ref[$name]}: $(cat "$d/digest") ($(du -k "$out/$name-$key.tar" | cut -f1) KiB)"
}

passwd() { # <rootfs> <extra passwd lines>
  printf 'root:x:0:0:root:/root:/bin/sh\n%bnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' "$2" >"$1/etc/passwd"
  printf 'root:x:0:\n%bnogroup:x:65534:\n' "$3" >"$1/etc/group"
}

say "building ${images[*]} into $out (key $key)"

# busybox
bb="$work/rootfs-busybox"
extract "$bb" busybox-static
applets "$bb"
passwd "$bb" "" ""
image busybox "$bb" '{"config":{"Cmd":["sh"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"history":["Debian busybox-static (hack/node/images.lock)"],"annotations":{}}'

# nginx (the accessor): nginx's binary and libraries, busybox for sh/cat, user nginx (101)
ng="$work/rootfs-nginx"
extract "$ng" nginx libc6 libgcc-s1 gcc-12-base libcrypt1 libpcre2-8-0 libssl3 zlib1g busybox-static
applets "$ng"
passwd "$ng" 'nginx:x:101:101:nginx:/nonexistent:/bin/false\n' 'nginx:x:101:\n'
rm -rf "$ng/etc/init.d" "$ng/etc/logrotate.d" "$ng/etc/systemd" "$ng/usr/lib/systemd" "$ng/etc/ufw"
image nginx "$ng" '{"config":{"Cmd":["nginx","-g","daemon off;"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"ExposedPorts":{"80/tcp":{}}},"history":["Debian nginx and its libraries, busybox-static (hack/node/images.lock)"],"annotations":{}}'

# pause
pa="$work/rootfs-pause"
mkdir -p "$pa"
gcc -Os -Wall -static -DVERSION=v3.10-gpu-runtime -o "$pa/pause" "$pause_c" >&2 || die "gcc could not build $pause_c (libc6-dev installed?)"
strip "$pa/pause"
image pause "$pa" '{"config":{"Entrypoint":["/pause"],"User":"65535:65535"},"history":["pause.c of k8s.io/kubernetes '"$kube_version"'"],"annotations":{}}'

find "$out" -maxdepth 1 -name '*.tar' ! -name "*-$key.tar" -delete
say "built in $(($(date +%s) - started)) s"
for i in "${images[@]}"; do echo "${ref[$i]} $out/$i-$key.tar"; done

#!/usr/bin/env bash
# Builds the service's OCI image without Docker, a daemon or a registry:
#
#   layer 1 (base)  the shared libraries the Node binary links, from the Debian packages pinned in
#                   hack/image/debian.lock (mmdebstrap --variant=extract), /etc/passwd with the
#                   user nonroot (65532), and the Node 22 binary of the `node` npm package
#                   (node_modules/node/bin/node, byte for byte)
#   layer 2 (app)   /app: package.json, package-lock.json, dist/ (npm run build), crds/,
#                   deploy/rbac/user-roles.yaml and the production node_modules
#                   (npm ci --omit=dev from the lockfile, without type declarations and
#                   source maps)
#
# The layers are written by GNU tar with sorted names, owner 0:0 and every mtime set to
# SOURCE_DATE_EPOCH (default: the commit time of the last commit touching package-lock.json),
# gzip -n, and assembled by hack/image/oci-layout.mjs, so the same inputs give the same digest.
# Runs as user 65532 from a read-only root filesystem (nothing is written outside /tmp, which
# it does not need either).
#
# Output (printed at the end):
#   .cache/image/gpu-runtime-<key>/        the OCI image layout (umoci, skopeo, podman read it)
#   .cache/image/gpu-runtime-<key>.tar     the same as one OCI archive (podman load, skopeo copy oci-archive:)
#   .cache/image/latest -> gpu-runtime-<key>
# <key> hashes every input (sources, lockfiles, this directory, SOURCE_DATE_EPOCH); an existing
# image of the same key is reused unless --force.
#
# usage: hack/image/build.sh [--force] [--out DIR]
# Needs: npm ci done in the checkout (for esbuild and the node binary), root or sudo to install
# mmdebstrap when missing, and access to the Debian mirror (DEBIAN_MIRROR, default
# http://deb.debian.org/debian) and the npm registry (or npm's cache).
set -euo pipefail

die() { echo "image/build.sh: $*" >&2; exit 1; }
say() { echo "image/build.sh: $*" >&2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out="$repo/.cache/image"
force=false
while (($#)); do
  case $1 in
    --force) force=true ;;
    --out) [[ $# -ge 2 ]] || die "--out needs a directory"; out=$2; shift ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument: $1 (usage: hack/image/build.sh [--force] [--out DIR])" ;;
  esac
  shift
done

# --- tools -------------------------------------------------------------------------------
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v sha256sum >/dev/null || need+=(coreutils)
tar --version 2>/dev/null | grep -q 'GNU tar' || need+=(tar)
command -v gzip >/dev/null || need+=(gzip)
if ((${#need[@]})); then
  SUDO=""
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null && sudo -n true 2>/dev/null || die "missing ${need[*]}; install them with: sudo apt-get install -y ${need[*]}"
    SUDO=sudo
  fi
  say "installing ${need[*]} (Debian packages, once)"
  $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >&2 ||
    die "could not install ${need[*]} with apt-get"
fi
[[ $(id -u) == 0 ]] || die "mmdebstrap extracts the base packages with their owners and modes: run as root (or: sudo $0)"

node_bin="$repo/node_modules/node/bin/node"
[[ -x $node_bin ]] || die "$node_bin is missing: run npm ci in $repo first"
node_version=$("$node_bin" --version)
[[ $node_version == v22.* ]] || die "node_modules/node is $node_version, the image wants Node 22 (package-lock.json)"
[[ -d $repo/node_modules/esbuild ]] || die "esbuild is missing from node_modules: run npm ci (with devDependencies) in $repo"

# --- inputs and key -------------------------------------------------------------------------
cd "$repo"
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct -- package-lock.json 2>/dev/null || true)
  [[ -n $SOURCE_DATE_EPOCH ]] || die "SOURCE_DATE_EPOCH is unset and git cannot date package-lock.json; set it (seconds since 1970)"
fi
export SOURCE_DATE_EPOCH
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=$(awk '$1 == "suite" { print $2 }' hack/image/debian.lock)
debs=$(awk '!/^#/ && NF == 2 && $1 != "suite" { printf "%s%s=%s", sep, $1, $2; sep = "," }' hack/image/debian.lock)
[[ -n $suite && -n $debs ]] || die "hack/image/debian.lock names no suite or packages"

inputs=(package.json package-lock.json tsconfig.json hack/build.mjs hack/bundle-options.mjs deploy/rbac/user-roles.yaml)
mapfile -t -O ${#inputs[@]} inputs < <(find src crds hack/image -type f | LC_ALL=C sort)
key=$( { sha256sum "${inputs[@]}"; echo "epoch=$SOURCE_DATE_EPOCH node=$node_version"; } | sha256sum | cut -c1-16)
name="gpu-runtime-$key"
version=$("$node_bin" -p 'require("./package.json").version')
ref="gpu-runtime:$version"
layout="$out/$name"
if [[ -f $layout/index.json && -f $out/$name.tar && $force == false ]]; then
  say "up to date: $layout"
  ln -sfn "$name" "$out/latest"
  echo "$layout"
  exit 0
fi

start=$(date +%s)
mkdir -p "$out"
work=$(mktemp -d "$out/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- dist/ ---------------------------------------------------------------------------------
say "npm run build"
"$node_bin" hack/build.mjs >&2

# --- layer 2: /app ---------------------------------------------------------------------------
app="$work/app/app"
mkdir -p "$app/deploy/rbac"
cp package.json package-lock.json "$app/"
cp -r dist crds "$app/"
cp deploy/rbac/user-roles.yaml "$app/deploy/rbac/"
rm -f "$app"/dist/*.map # no sources in the image to map to
say "npm ci --omit=dev (production node_modules from package-lock.json)"
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
  die "npm ci --omit=dev failed in $app (is the npm registry or npm's cache reachable?)"
rm -f "$app/node_modules/.package-lock.json" # npm's own bookkeeping, carries install paths
# Type declarations and source maps are never loaded at run time (about a third of the bytes).
find "$app/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

# --- layer 1: base ---------------------------------------------------------------------------
base="$work/base"
say "mmdebstrap $suite: $debs"
# shellcheck source=debian-extract.sh
source hack/image/debian-extract.sh
debian_extract "$base" "$suite" "$debs" "$mirror" ||
  die "mmdebstrap failed for $debs: is $mirror reachable? (or DEBIAN_MIRROR=<snapshot.debian.org archive>)"
# What a container runtime provides, or apt needs, does not belong in the image.
rm -rf "$base"/dev/* "$base"/etc/apt "$base"/etc/dpkg "$base"/var/lib/apt "$base"/var/cache/* "$base"/var/log/* \
  "$base"/etc/resolv.conf "$base"/etc/hostname "$base"/etc/fstab "$base"/etc/hosts
mkdir -p "$base/usr/local/bin" "$base/tmp" "$base/home/nonroot" "$base/etc"
chmod 1777 "$base/tmp"
chown 65532:65532 "$base/home/nonroot"
cp "$node_bin" "$base/usr/local/bin/node"
chmod 0755 "$base/usr/local/bin/node"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$base/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$base/etc/group"
printf 'hosts: files dns\n' >"$base/etc/nsswitch.conf"
# The package versions, for scanners and people.
mkdir -p "$base/usr/share/gpu-runtime"
# What was extracted, not what the lock asked for: they differ when the mirror moved on (debian-extract.sh).
{ echo "suite $suite"; cat "$base/.debian-packages"; } >"$base/usr/share/gpu-runtime/debian-packages"
rm "$base/.debian-packages"
echo "node $node_version $(sha256sum "$node_bin" | cut -d' ' -f1)" >"$base/usr/share/gpu-runtime/node"

# --- reproducible tarballs -------------------------------------------------------------------
det_tar() { # <dir> <out.tar.gz>: the tree under dir, deterministically
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner --owner=0 --group=0 \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$1" -cf - . | gzip -n -9 >"$2"
}
# Owners stay as extracted (root), except the home directory of nonroot.
tar_base() {
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$base" -cf - . | gzip -n -9 >"$work/base.tar.gz"
}
say "writing layers"
tar_base
det_tar "$work/app" "$work/app.tar.gz"

cat >"$work/config.json" <<EOF
{
  "config": {
    "User": "65532:65532",
    "WorkingDir": "/app",
    "Entrypoint": ["/usr/local/bin/node", "/app/dist/main.js"],
    "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "NODE_ENV=production", "HOST=0.0.0.0", "PORT=8080", "HOME=/home/nonroot"],
    "ExposedPorts": { "8080/tcp": {} },
    "Labels": {
      "org.opencontainers.image.title": "gpu-runtime",
      "org.opencontainers.image.version": "$version",
      "org.opencontainers.image.description": "GPU runtime control plane (GraphQL, REST, reconcilers of GPUStorage/GPUUnit)"
    }
  },
  "history": ["base: Debian $suite libraries ($debs), /etc/passwd (nonroot 65532), node $node_version", "app: dist/, crds/, deploy/rbac, production node_modules"],
  "annotations": { "org.opencontainers.image.title": "gpu-runtime", "org.opencontainers.image.version": "$version" }
}
EOF
rm -rf "$work/layout"
digest=$("$node_bin" hack/image/oci-layout.mjs "$work/layout" "$ref" "$work/config.json" "$work/base.tar.gz" "$work/app.tar.gz")
(cd "$work/layout" && tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner --owner=0 --group=0 --format=posix \
  --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$work/image.tar" oci-layout index.json blobs)

rm -rf "$layout" "$out/$name.tar"
mv "$work/layout" "$layout"
mv "$work/image.tar" "$out/$name.tar"
ln -sfn "$name" "$out/latest"
# Earlier builds of other inputs are of no further use.
find "$out" -maxdepth 1 -name 'gpu-runtime-*' ! -name "$name" ! -name "$name.tar" -exec rm -rf {} +
size=$(du -sb "$out/$name.tar" | cut -f1)
unpacked=$(du -sb "$base" "$work/app" | awk '{ s += $1 } END { print s }')
say "built $ref in $(($(date +%s) - start)) s: manifest $digest"
say "  OCI layout  $layout"
say "  OCI archive $out/$name.tar ($((size / 1024 / 1024)) MiB compressed, $((unpacked / 1024 / 1024)) MiB unpacked)"
echo "$layout"

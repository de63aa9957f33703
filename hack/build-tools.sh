#!/usr/bin/env bash
# Builds the local control plane's binaries from the pinned Go modules in hack/tools and hack/kwok:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok; and, through
# hack/build-local-path.sh (its own module and cache directory), rancher's local-path-provisioner.
#
# Binaries are cached outside the repository, keyed by the Kubernetes version and a hash of the two
# go.sum files, and are built only when missing. The cold build compiles most of Kubernetes: expect
# 20-40 minutes on 2 cores (plus the module download). A warm run returns at once.
#
#   GPU_RUNTIME_CACHE  cache root (default ~/.cache/gpu-runtime)
#
# Prints `local-path-bin=<dir>` (the provisioner's cached directory), then the bin directory as its
# last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${GPU_RUNTIME_CACHE:-$HOME/.cache/gpu-runtime}
kube_version=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/tools/go.mod")
kwok_version=$(awk '$1=="sigs.k8s.io/kwok" {print $2; exit}' "$here/kwok/go.mod")
key=$(cat "$here/tools/go.sum" "$here/kwok/go.sum" | sha256sum | cut -c1-12)
bin="$cache/bin/kube-$kube_version-kwok-$kwok_version-$key"
tools=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

# The provisioner has its own module, cache key and directory: it never invalidates this build.
local_path_bin=$("$here/build-local-path.sh")
echo "local-path-bin=$local_path_bin"

missing=()
for t in "${tools[@]}"; do [[ -x "$bin/$t" ]] || missing+=("$t"); done
if ((${#missing[@]} == 0)); then
  echo "$bin"
  exit 0
fi

log() { printf '[build-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v go >/dev/null || { log "go is not installed; it is needed once to build the local cluster"; exit 1; }
mkdir -p "$bin.partial"
export GOFLAGS=-trimpath CGO_ENABLED=0
ldflags="-s -w"
# Version stamps so that kubectl version and the apiserver report the release, not v0.0.0.
kv="k8s.io/component-base/version"
ldflags_kube="$ldflags -X $kv.gitVersion=$kube_version -X $kv.gitMajor=1 -X $kv.gitMinor=$(cut -d. -f2 <<<"$kube_version") -X $kv.gitTreeState=clean"

# Counts compiled packages (go build -v prints one per line) so a long build shows it is moving.
progress() {
  local what=$1 n=0 line
  while IFS= read -r line; do
    n=$((n + 1))
    if ((n % 200 == 0)); then log "$what: $n packages compiled"; fi
    case $line in *.go:[0-9]*|"# "*|go:\ *|*"cannot find"*) printf '%s\n' "$line" >&2 ;; esac
  done
}

step=0
total=3
log "building into $bin (Kubernetes $kube_version, kwok $kwok_version); missing: ${missing[*]}"
log "a cold build takes 20-40 minutes on 2 cores; later runs reuse the cache"

step=$((step + 1))
log "[$step/$total] downloading modules"
(cd "$here/tools" && go mod download) && (cd "$here/kwok" && go mod download)

step=$((step + 1))
log "[$step/$total] compiling etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl"
(cd "$here/tools" &&
  go build -v -ldflags "$ldflags" -o "$bin.partial/etcd" go.etcd.io/etcd/server/v3 2>&1 | progress etcd &&
  go build -v -ldflags "$ldflags_kube" -o "$bin.partial/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl 2>&1 | progress kubernetes)
for t in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [[ -x "$bin.partial/$t" ]] || { log "build of $t failed (see the errors above)"; exit 1; }
done

step=$((step + 1))
log "[$step/$total] compiling kwok"
(cd "$here/kwok" && go build -v -ldflags "$ldflags" -o "$bin.partial/kwok" sigs.k8s.io/kwok/cmd/kwok 2>&1 | progress kwok)
[[ -x "$bin.partial/kwok" ]] || { log "build of kwok failed (see the errors above)"; exit 1; }

rm -rf "$bin"
mv "$bin.partial" "$bin"
log "done"
echo "$bin"

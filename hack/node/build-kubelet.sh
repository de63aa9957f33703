#!/usr/bin/env bash
# Builds the real node's kubelet from k8s.io/kubernetes, the same release and the same versions of
# every shared module as hack/tools (hack/node/kubelet/go.mod: a copy of hack/tools/go.mod with the
# kubelet as its tool and the three modules the kubelet needs beyond the control plane:
# k8s.io/cri-streaming, otelrestful, hnslib). Same flags as hack/build-tools.sh (-trimpath,
# CGO_ENABLED=0), so the Go build cache of the control-plane build is reused and only the
# kubelet's own packages compile.
#
# Cached outside the repository, keyed by the Kubernetes version and a hash of
# hack/node/kubelet/go.sum, built only when missing. A warm run returns at once.
#
#   GPU_RUNTIME_CACHE  cache root (default ~/.cache/gpu-runtime)
#
# Prints the bin directory as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${GPU_RUNTIME_CACHE:-$HOME/.cache/gpu-runtime}
kube_version=$(awk '$1=="k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$here/kubelet/go.mod")
key=$(sha256sum "$here/kubelet/go.sum" | cut -c1-12)
bin="$cache/bin/kubelet-$kube_version-$key"

if [[ -x "$bin/kubelet" ]]; then
  echo "$bin"
  exit 0
fi

log() { printf '[build-kubelet %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v go >/dev/null || { log "go is not installed; it is needed once to build the real node's kubelet"; exit 1; }
log "building kubelet $kube_version into $bin (reuses the control plane's Go build cache)"
rm -rf "$bin.partial"
mkdir -p "$bin.partial"
export GOFLAGS=-trimpath CGO_ENABLED=0
kv="k8s.io/component-base/version"
ldflags="-s -w -X $kv.gitVersion=$kube_version -X $kv.gitMajor=1 -X $kv.gitMinor=$(cut -d. -f2 <<<"$kube_version") -X $kv.gitTreeState=clean"
started=$(date +%s)
(cd "$here/kubelet" && go mod download && go build -ldflags "$ldflags" -o "$bin.partial/kubelet" k8s.io/kubernetes/cmd/kubelet) >&2
[[ -x "$bin.partial/kubelet" ]] || { log "build of kubelet failed (see the errors above)"; exit 1; }
rm -rf "$bin"
mv "$bin.partial" "$bin"
log "done in $(($(date +%s) - started)) s"
echo "$bin"

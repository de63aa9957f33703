#!/usr/bin/env bash
# Shows that every rule of the service's RBAC (deploy/rbac/operator.yaml) is needed: runs
# test/integration/image.test.ts once as is (it must pass) and once per rule with that rule removed
# (GPU_RUNTIME_RBAC_DROP=<Kind>/<name>#<index>; it must fail, and does so at the first 403 the
# ServiceAccount meets). Writes the outcome to deploy/rbac/minimality.md.
#
# usage: hack/rbac-minimality.sh             (root, as image.test.ts; about 30 s per rule on 2 cores)
#        hack/rbac-minimality.sh --from-logs (rewrite the report from the last run's logs)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
node_bin=node_modules/node/bin/node
[[ -x $node_bin ]] || { echo "rbac-minimality: run npm ci first" >&2; exit 1; }
report=deploy/rbac/minimality.md
logdir=$repo/.cache/rbac-minimality # each run's vitest output, kept for reading
from_logs=false
[[ ${1:-} == --from-logs ]] && from_logs=true
if $from_logs; then
  [[ -f $logdir/baseline.log ]] || { echo "rbac-minimality: no logs in $logdir; run without --from-logs first" >&2; exit 1; }
else
  rm -rf "$logdir" && mkdir -p "$logdir"
fi

# "<Kind>/<name>#<index><TAB><rule as JSON>" for every rule of every (Cluster)Role in the file.
mapfile -t rules < <("$node_bin" --input-type=module -e '
  import { loadAllYaml } from "@kubernetes/client-node";
  import { readFileSync } from "node:fs";
  for (const o of loadAllYaml(readFileSync("deploy/rbac/operator.yaml", "utf8")))
    if (o.kind === "ClusterRole" || o.kind === "Role")
      o.rules.forEach((r, i) => console.log(`${o.kind}/${o.metadata.name}#${i}\t${JSON.stringify(r)}`));
')
((${#rules[@]})) || { echo "rbac-minimality: no rules found in deploy/rbac/operator.yaml" >&2; exit 1; }

run() { # <drop or empty> <log>: runs image.test.ts (or, --from-logs, reads its last log); 0 when it passed
  $from_logs || GPU_RUNTIME_RBAC_DROP=$1 npx vitest run test/integration/image.test.ts >"$2" 2>&1 || true
  [[ -f $2 ]] || { echo "rbac-minimality: no log $2" >&2; exit 1; }
  passed "$2"
}
first_refusal() { # the error image.test.ts failed with, one line (ANSI colours stripped)
  sed -E 's/\x1b\[[0-9;]*m//g' "$1" | grep -m1 -E '^(AssertionError|Error): ' |
    sed -E 's/^(AssertionError|Error): //; s/"stack":.*//; s/\|/\\|/g' | cut -c1-300 || true
}
passed() { # <log>: did that run of image.test.ts pass?
  sed -E 's/\x1b\[[0-9;]*m//g' "$1" | grep -qE '^ *Test Files +1 passed'
}

start=$(date +%s)
when=$(date -u +%Y-%m-%dT%H:%MZ)
$from_logs && when="$(date -u -r "$logdir/baseline.log" +%Y-%m-%dT%H:%MZ) (report rewritten from its logs)"
echo "rbac-minimality: baseline (all rules)" >&2
if ! run "" "$logdir/baseline.log"; then
  tail -40 "$logdir/baseline.log" >&2
  echo "rbac-minimality: image.test.ts fails with every rule in place; fix that first" >&2
  exit 1
fi
rows=() dead=0
for entry in "${rules[@]}"; do
  drop=${entry%%$'\t'*} rule=${entry#*$'\t'}
  echo "rbac-minimality: without $drop $rule" >&2
  log="$logdir/${drop//[\/#]/_}.log"
  if run "$drop" "$log"; then
    rows+=("| \`$drop\` | \`$rule\` | **passed: dead weight** | |")
    dead=$((dead + 1))
  else
    rows+=("| \`$drop\` | \`$rule\` | failed | $(first_refusal "$log") |")
  fi
done
# Local changes to what the runs tested (the report itself excepted: it is being rewritten).
dirty=$(git diff --quiet HEAD -- deploy src ":(exclude)$report" || echo ' (with local changes)')
{
  echo "# Every rule of deploy/rbac/operator.yaml is needed"
  echo
  echo "Last run of \`hack/rbac-minimality.sh\`: $when, $(($(date +%s) - start)) s, commit $(git rev-parse --short HEAD)$dirty, ${#rules[@]} runs without a rule."
  echo "With every rule, \`test/integration/image.test.ts\` passes; without any one of them it fails:"
  echo
  echo "| rule removed | rule | image.test.ts | first refusal |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >"$report"
echo "rbac-minimality: wrote $report ($dead dead rule(s)); logs in $logdir" >&2
((dead == 0))

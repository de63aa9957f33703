#!/usr/bin/env bash
# Tools the test suite needs from Debian, installed when missing (npm test runs this first):
#   chromium  the GraphiQL browser test (test/e2e/graphiql.test.ts) drives /usr/bin/chromium
#   curl, jq  ../shared/acceptance/walkthrough.sh (test/e2e/walkthrough.test.ts)
#   mmdebstrap, umoci, runc  build the OCI image and run it (hack/image/build.sh,
#             test/integration/image.test.ts)
# Installs only as root (or with sudo); otherwise says what to install and carries on (the tests
# that need the tool then fail with the same instruction).
set -uo pipefail
missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v umoci >/dev/null || missing+=(umoci)
command -v runc >/dev/null || missing+=(runc)
((${#missing[@]} == 0)) && exit 0
SUDO=""
if [[ $(id -u) != 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "ensure-test-tools: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
  fi
fi
echo "ensure-test-tools: installing ${missing[*]} (Debian packages, once)" >&2
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
  echo "ensure-test-tools: could not install ${missing[*]}" >&2
exit 0

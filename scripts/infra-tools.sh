#!/usr/bin/env bash
# Builds .cache/infra-hcl/infra-hcl (fmt check and provider-free `terraform
# test` runner, see scripts/infra-hcl/main.go) from Debian packages only:
# golang-go and the packaged source of hashicorp/hcl v2 and its dependencies.
# Installs them with apt-get when missing and root (unless INFRA_TOOLS_INSTALL=0);
# otherwise exits 3 saying what to install. Prints the binary's path on success.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ROOT}/.cache/infra-hcl"
BIN="${OUT}/infra-hcl"
SRC="${ROOT}/scripts/infra-hcl/main.go"
DEBIAN_GOPATH=/usr/share/gocode
DEBIAN_SRC="${DEBIAN_GOPATH}/src"
PACKAGES=(golang-go golang-github-hashicorp-hcl-v2-dev)

if [[ -x "${BIN}" && "${BIN}" -nt "${SRC}" ]]; then
  echo "${BIN}"
  exit 0
fi

if ! command -v go >/dev/null 2>&1 || [[ ! -d "${DEBIAN_SRC}/github.com/hashicorp/hcl/v2" ]]; then
  if [[ "${INFRA_TOOLS_INSTALL:-1}" != "0" && "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "infra-tools: installing ${PACKAGES[*]} with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
  else
    echo "infra-tools: need ${PACKAGES[*]} (apt-get install them as root)" >&2
    exit 3
  fi
fi

# GOPATH mode over Debian's source tree: no module download is ever attempted.
# go-cty imports go-textseg by its /v13 module path, which Debian installs
# without the suffix, hence the link.
GOPATH_DIR="${OUT}/gopath"
mkdir -p "${GOPATH_DIR}/src/github.com/apparentlymart/go-textseg" "${GOPATH_DIR}/src/infra-hcl"
ln -sfn "${DEBIAN_SRC}/github.com/apparentlymart/go-textseg" "${GOPATH_DIR}/src/github.com/apparentlymart/go-textseg/v13"
cp "${SRC}" "${GOPATH_DIR}/src/infra-hcl/main.go"
(
  cd "${GOPATH_DIR}/src/infra-hcl"
  GO111MODULE=off GOPATH="${GOPATH_DIR}:${DEBIAN_GOPATH}" GOCACHE="${OUT}/gocache" GOFLAGS="" \
    go build -o "${BIN}.tmp" .
)
mv "${BIN}.tmp" "${BIN}"
echo "${BIN}"

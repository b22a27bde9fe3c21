# shellcheck shell=bash
# Shared by deploy.sh and destroy.sh: paths, the cluster list and helpers.

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENV_DIR="${INFRA_DIR}/environment"
CLUSTER_DIR="${INFRA_DIR}/cluster"
CLUSTERS=(cluster1 cluster2)
# Gateway API CRDs (Gateway, HTTPRoute, ...) are not shipped by the AWS Gateway
# API controller chart; this release's standard channel is what it supports.
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.2.1}"
TF="${TERRAFORM:-terraform}"
# Images are tagged with the package version by default (immutable tags).
IMAGE_TAG="${IMAGE_TAG:-$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "${INFRA_DIR}/../package.json")}"
export TF_VAR_image_tag="${IMAGE_TAG}"

log() { printf '\n==> %s\n' "$*" >&2; }

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

require_tools() {
  local tool
  for tool in "$@"; do
    command -v "${tool}" >/dev/null 2>&1 || die "${tool} is required but not on PATH"
  done
}

env_tf() { "${TF}" -chdir="${ENV_DIR}" "$@"; }
cluster_tf() { "${TF}" -chdir="${CLUSTER_DIR}" "$@"; }

env_output() { env_tf output -raw "$1"; }

is_cluster() {
  local c
  for c in "${CLUSTERS[@]}"; do
    [[ "$1" == "${c}" ]] && return 0
  done
  return 1
}

select_workspace() {
  cluster_tf init -input=false >/dev/null
  cluster_tf workspace select -or-create "$1"
}

configure_kubectl() {
  local cluster="$1"
  aws eks --region "$(env_output region)" update-kubeconfig \
    --name "eks-${cluster}" --alias "eks-${cluster}" >/dev/null
}

# Polls until a command succeeds, at most `tries` times `delay` seconds apart.
retry() {
  local tries="$1" delay="$2"
  shift 2
  local i
  for ((i = 1; i <= tries; i++)); do
    if "$@"; then
      return 0
    fi
    sleep "${delay}"
  done
  return 1
}

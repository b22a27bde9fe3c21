#!/usr/bin/env bash
# Deploys the environment, then cluster1 and cluster2, in the order the
# providers and controllers need. Usage: ./deploy.sh [all|environment|cluster1|cluster2]
set -euo pipefail
[[ -n "${DEBUG:-}" ]] && set -x

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

deploy_environment() {
  log "environment: Route 53 zone, private CA, ACM certificate, sidecar role, ECR"
  env_tf apply -input=false -auto-approve
}

# The demo release waits for its pods; without the images it would only time out.
require_images() {
  local output url
  for output in proxy_repository_url init_repository_url; do
    url="$(env_output "${output}")"
    aws ecr describe-images --region "$(env_output region)" --repository-name "${url#*/}" \
      --image-ids "imageTag=${IMAGE_TAG}" >/dev/null 2>&1 ||
      die "${url}:${IMAGE_TAG} is not published yet: push the images (images/publish.sh), then rerun"
  done
}

deploy_cluster() {
  local cluster="$1"
  [[ -f "${ENV_DIR}/terraform.tfstate" ]] || die "deploy the environment first (./deploy.sh environment)"
  require_images

  log "${cluster}: workspace"
  select_workspace "${cluster}"

  # The Helm provider is configured from module.eks outputs: the cluster must
  # exist before any release can even be planned.
  log "${cluster}: VPC and EKS"
  cluster_tf apply -input=false -auto-approve -target=module.vpc -target=module.eks

  configure_kubectl "${cluster}"

  log "${cluster}: Gateway API CRDs ${GATEWAY_API_VERSION}"
  kubectl --context "eks-${cluster}" apply --server-side \
    -f "https://github.com/kubernetes-sigs/gateway-api/releases/download/${GATEWAY_API_VERSION}/standard-install.yaml"

  # Controllers before the charts that create objects they reconcile; Kyverno
  # ready before the platform's ClusterPolicy is submitted.
  log "${cluster}: Kyverno, AWS Gateway API controller, ExternalDNS"
  cluster_tf apply -input=false -auto-approve \
    -target=helm_release.kyverno \
    -target=helm_release.gateway_api_controller \
    -target=helm_release.external_dns

  log "${cluster}: prefix-list rules, Pod Identity, platform and demo releases"
  cluster_tf apply -input=false -auto-approve

  cluster_tf output -raw configure_kubectl
  echo
}

main() {
  require_tools "${TF}" aws kubectl
  env_tf init -input=false >/dev/null
  local target="${1:-all}"
  case "${target}" in
    all)
      deploy_environment
      local c
      for c in "${CLUSTERS[@]}"; do
        deploy_cluster "${c}"
      done
      ;;
    environment) deploy_environment ;;
    *)
      is_cluster "${target}" || die "usage: $0 [all|environment|cluster1|cluster2]"
      deploy_cluster "${target}"
      ;;
  esac
}

main "$@"

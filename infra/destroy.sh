#!/usr/bin/env bash
# Destroys in reverse: in each cluster the apps first, so the controllers that
# made AWS resources (Lattice services, DNS records) delete them while they
# still run; then the controllers, EKS, the VPC; the environment last.
# Usage: ./destroy.sh [all|environment|cluster1|cluster2]
set -euo pipefail
[[ -n "${DEBUG:-}" ]] && set -x

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

record_gone() {
  local zone_id="$1" name="$2" count
  count="$(aws route53 list-resource-record-sets --hosted-zone-id "${zone_id}" \
    --query "length(ResourceRecordSets[?Name=='${name}.'])" --output text)"
  [[ "${count}" == "0" ]]
}

# The controller associates the VPC with the service network; the association
# is not a Terraform resource and would keep the VPC from being deleted.
remove_lattice_vpc_association() {
  local cluster="$1" vpc_id assoc
  vpc_id="$(aws ec2 describe-vpcs --filters "Name=tag:Name,Values=eks-${cluster}" \
    --query 'Vpcs[0].VpcId' --output text)"
  [[ -n "${vpc_id}" && "${vpc_id}" != "None" ]] || return 0
  for assoc in $(aws vpc-lattice list-service-network-vpc-associations --vpc-identifier "${vpc_id}" \
    --query 'items[].id' --output text); do
    log "${cluster}: deleting service network association ${assoc}"
    aws vpc-lattice delete-service-network-vpc-association \
      --service-network-vpc-association-identifier "${assoc}" >/dev/null
  done
}

destroy_cluster() {
  local cluster="$1"
  local ctx="eks-${cluster}" zone_id domain
  zone_id="$(env_output private_zone_id)"
  domain="$(env_output domain)"

  log "${cluster}: workspace"
  select_workspace "${cluster}"
  configure_kubectl "${cluster}" || log "${cluster}: no cluster to configure kubectl for"

  log "${cluster}: demo release (the controller deletes its Lattice service, ExternalDNS its record)"
  cluster_tf destroy -input=false -auto-approve -target=helm_release.demo
  kubectl --context "${ctx}" wait --for=delete httproute --all -n apps --timeout=10m || true
  retry 30 20 record_gone "${zone_id}" "demo-${cluster}.${domain}" ||
    log "${cluster}: demo-${cluster}.${domain} still in the zone; the environment's force_destroy removes it"

  log "${cluster}: platform release (Gateway, injection policy)"
  cluster_tf destroy -input=false -auto-approve -target=helm_release.platform
  kubectl --context "${ctx}" wait --for=delete gateway --all -A --timeout=10m || true

  log "${cluster}: controllers"
  cluster_tf destroy -input=false -auto-approve \
    -target=helm_release.external_dns \
    -target=helm_release.gateway_api_controller \
    -target=helm_release.kyverno

  remove_lattice_vpc_association "${cluster}"

  log "${cluster}: EKS"
  cluster_tf destroy -input=false -auto-approve -target=module.eks

  log "${cluster}: everything else (VPC, zone association, IAM)"
  cluster_tf destroy -input=false -auto-approve
}

# Created by the first controller that found it missing (defaultServiceNetwork),
# so no stack owns it; deleted once neither cluster is associated.
remove_service_network() {
  local name="${SERVICE_NETWORK_NAME:-lattice-gateway}" id
  id="$(aws vpc-lattice list-service-networks --query "items[?name=='${name}'].id | [0]" --output text)"
  [[ -n "${id}" && "${id}" != "None" ]] || return 0
  log "deleting service network ${name} (${id})"
  aws vpc-lattice delete-service-network --service-network-identifier "${id}" >/dev/null ||
    log "service network ${name} still in use; delete it by hand once its associations are gone"
}

destroy_environment() {
  log "environment"
  env_tf destroy -input=false -auto-approve
}

main() {
  require_tools "${TF}" aws kubectl
  env_tf init -input=false >/dev/null
  local target="${1:-all}" i
  case "${target}" in
    all)
      for ((i = ${#CLUSTERS[@]} - 1; i >= 0; i--)); do
        destroy_cluster "${CLUSTERS[i]}"
      done
      remove_service_network
      destroy_environment
      ;;
    environment) destroy_environment ;;
    *)
      is_cluster "${target}" || die "usage: $0 [all|environment|cluster1|cluster2]"
      destroy_cluster "${target}"
      ;;
  esac
}

main "$@"

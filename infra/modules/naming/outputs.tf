output "clusters" {
  description = "The two cluster keys (Terraform workspaces of infra/cluster)."
  value       = local.clusters
}

output "cluster" {
  description = "This cluster's key, empty for the environment stack."
  value       = var.cluster
}

output "peer_cluster" {
  description = "The other cluster's key, whose workloads this cluster's demo service accepts calls from."
  value       = local.peer
}

output "eks_cluster_name" {
  description = "EKS cluster name, also the value of the eks-cluster-name session tag of its pods."
  value       = local.eks_cluster_name
}

output "peer_eks_cluster_name" {
  description = "EKS cluster name of the peer cluster: the caller this cluster's IAM auth policy allows."
  value       = local.peer_eks_cluster_name
}

output "vpc_name" {
  description = "Name tag of the cluster VPC (destroy.sh finds leftovers by it)."
  value       = local.eks_cluster_name
}

output "demo_release_name" {
  description = "Helm release name of the demo application of this cluster."
  value       = local.is_cluster ? "demo-${var.cluster}" : ""
}

output "demo_app_name" {
  description = "Name charts/demo gives the Deployment, Service and ServiceAccount (demo-<cluster>-v1); Pod Identity maps this service account to the sidecar role."
  value       = local.is_cluster ? "demo-${var.cluster}-v1" : ""
}

output "demo_hostname" {
  description = "Private DNS name of this cluster's demo service."
  value       = local.is_cluster ? "demo-${var.cluster}.${var.domain}" : ""
}

output "peer_demo_hostname" {
  description = "Private DNS name of the peer cluster's demo service."
  value       = local.is_cluster ? "demo-${local.peer}.${var.domain}" : ""
}

output "platform_release_name" {
  description = "Helm release name of charts/platform in this cluster."
  value       = local.is_cluster ? "platform-${var.cluster}" : ""
}

output "app_namespace" {
  description = "Namespace of the demo applications (the kubernetes-namespace session tag)."
  value       = var.app_namespace
}

output "wildcard_domain" {
  description = "Wildcard name covered by the ACM certificate besides the apex."
  value       = "*.${var.domain}"
}

output "lattice_prefix_list_names" {
  description = "Names of the AWS-managed prefix lists of the VPC Lattice data plane, per address family."
  value = {
    ipv4 = "com.amazonaws.${var.region}.vpc-lattice"
    ipv6 = "com.amazonaws.${var.region}.ipv6.vpc-lattice"
  }
}

output "sidecar_role_name" {
  description = "IAM role assumed by the SigV4 sidecar through EKS Pod Identity (shared by both clusters)."
  value       = "${var.name_prefix}-sidecar"
}

output "gateway_api_controller_role_name" {
  description = "IAM role of the AWS Gateway API controller of this cluster."
  value       = local.is_cluster ? "${var.name_prefix}-${var.cluster}-gateway-api" : ""
}

output "external_dns_role_name" {
  description = "IAM role of ExternalDNS of this cluster."
  value       = local.is_cluster ? "${var.name_prefix}-${var.cluster}-external-dns" : ""
}

output "proxy_repository_name" {
  description = "ECR repository of the proxy image."
  value       = var.name_prefix
}

output "init_repository_name" {
  description = "ECR repository of the iptables init image."
  value       = "${var.name_prefix}-init"
}

output "ca_common_name" {
  description = "Common name of the private root CA."
  value       = "${var.domain} private root CA"
}

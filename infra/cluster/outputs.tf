output "cluster" {
  description = "Cluster key (the Terraform workspace)."
  value       = module.naming.cluster
}

output "cluster_name" {
  description = "EKS cluster name (also the kubectl context alias set by configure_kubectl)."
  value       = module.eks.cluster_name
}

output "peer_cluster_name" {
  description = "EKS cluster name this cluster's demo service accepts calls from."
  value       = module.naming.peer_eks_cluster_name
}

output "region" {
  description = "AWS region (from the environment stack)."
  value       = local.region
}

output "vpc_id" {
  description = "Cluster VPC id."
  value       = module.vpc.vpc_id
}

output "demo_hostname" {
  description = "Private DNS name of this cluster's demo service."
  value       = module.naming.demo_hostname
}

output "configure_kubectl" {
  description = "Command that adds this cluster to ~/.kube/config under the context name eks-<cluster>."
  value       = "aws eks --region ${local.region} update-kubeconfig --name ${module.eks.cluster_name} --alias ${module.eks.cluster_name}"
}

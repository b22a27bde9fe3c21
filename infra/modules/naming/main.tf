locals {
  # The pattern is exactly two clusters that call each other; the peer of one
  # is the other, and that peer's EKS name is what its IAM auth policy allows.
  clusters   = ["cluster1", "cluster2"]
  is_cluster = var.cluster != ""
  peer       = local.is_cluster ? [for c in local.clusters : c if c != var.cluster][0] : ""

  # EKS Pod Identity tags each session with `eks-cluster-name`; the auth
  # policies compare against these names, so they are computed in one place.
  eks_cluster_name      = local.is_cluster ? "eks-${var.cluster}" : ""
  peer_eks_cluster_name = local.is_cluster ? "eks-${local.peer}" : ""
}

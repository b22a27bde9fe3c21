module "eks" {
  source  = "terraform-aws-modules/eks/aws"
  version = "20.37.2"

  cluster_name    = module.naming.eks_cluster_name
  cluster_version = var.kubernetes_version

  # Terraform and kubectl run from outside the VPC in this demo.
  cluster_endpoint_public_access           = true
  enable_cluster_creator_admin_permissions = true

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  cluster_addons = {
    coredns    = {}
    kube-proxy = {}
    vpc-cni = {
      # Before nodes join, or pods cannot get addresses.
      before_compute = true
    }
    # Serves credentials to pods that have a Pod Identity association: the
    # sidecar, the Gateway API controller and ExternalDNS.
    eks-pod-identity-agent = {
      before_compute = true
    }
  }

  eks_managed_node_groups = {
    default = {
      instance_types = var.node_instance_types
      min_size       = var.node_group_size.min
      desired_size   = var.node_group_size.desired
      max_size       = var.node_group_size.max
    }
  }
}

# One configuration, two instances: the Terraform workspace (cluster1 or
# cluster2) selects which cluster this is. The naming module rejects any other
# workspace, including `default`.
data "terraform_remote_state" "environment" {
  backend = "local"

  config = {
    path = var.environment_state_path
  }
}

locals {
  env = data.terraform_remote_state.environment.outputs

  # The region is set once, in the environment stack, and read from its state.
  region = local.env.region

  tags = merge({
    Project = "lattice-sigv4-proxy"
    Stack   = "cluster"
    Cluster = terraform.workspace
  }, var.tags)
}

module "naming" {
  source = "../modules/naming"

  name_prefix = local.env.name_prefix
  cluster     = terraform.workspace
  domain      = local.env.domain
  region      = local.region
}

provider "aws" {
  region = local.region

  default_tags {
    tags = local.tags
  }
}

# Kubernetes credentials come from the cluster this stack creates, which is why
# deploy.sh applies module.eks first (targeted) before anything Helm installs.
provider "helm" {
  kubernetes {
    host                   = module.eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)

    exec {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", local.region]
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_availability_zones" "available" {
  # Local and Wavelength zones have no EKS support.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

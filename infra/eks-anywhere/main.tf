# IRSA for the sidecar on an EKS Anywhere cluster (no EKS, no Pod Identity
# agent): IAM trusts the cluster's own service account issuer, whose discovery
# documents are published where STS can fetch them. One instance per cluster
# (Terraform workspace = the cluster's name is a good habit, not a rule).
#
# Reads the region, account, name prefix and Private CA from the environment
# stack, like infra/cluster does.
data "terraform_remote_state" "environment" {
  backend = "local"

  config = {
    path = var.environment_state_path
  }
}

locals {
  env = data.terraform_remote_state.environment.outputs

  # The region is set once, in the environment stack.
  region = local.env.region

  # IAM names an OIDC provider, and prefixes its condition keys, by the issuer
  # URL without its scheme.
  issuer_host_path = trimprefix(var.oidc_issuer_url, "https://")

  # The projected token's sub: system:serviceaccount:<namespace>:<name>.
  subjects = [for sa in var.service_accounts : "system:serviceaccount:${sa.namespace}:${sa.name}"]

  role_name = "${local.env.name_prefix}-eksa-${var.cluster_name}"

  tags = merge({
    Project = "lattice-sigv4-proxy"
    Stack   = "eks-anywhere"
    Cluster = var.cluster_name
  }, var.tags)
}

provider "aws" {
  region = local.region

  default_tags {
    tags = local.tags
  }
}

data "aws_partition" "current" {}

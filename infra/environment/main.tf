provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

module "naming" {
  source = "../modules/naming"

  name_prefix = var.name_prefix
  domain      = var.domain
  region      = var.region
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  tags = merge({
    Project = "lattice-sigv4-proxy"
    Stack   = "environment"
  }, var.tags)
}

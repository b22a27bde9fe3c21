terraform {
  # 1.7: tests/eks-anywhere.tftest.hcl uses mock_provider and override_data.
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.95"
    }
  }
}

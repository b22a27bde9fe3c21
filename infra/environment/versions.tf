terraform {
  # 1.7: tests/environment.tftest.hcl uses mock_provider.
  required_version = ">= 1.7.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.95"
    }
  }
}

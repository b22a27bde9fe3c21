variable "name_prefix" {
  description = "Prefix of every account-wide name (IAM roles, ECR repositories). Short, because IAM role names stop at 64 characters."
  type        = string
  default     = "lattice-sigv4-proxy"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of lower-case letters, digits and hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "cluster" {
  description = "Which of the two clusters is being named (`cluster1` or `cluster2`, the Terraform workspace of infra/cluster). Empty for the environment stack, which has no cluster."
  type        = string
  default     = ""

  validation {
    condition     = var.cluster == "" || contains(["cluster1", "cluster2"], var.cluster)
    error_message = "cluster must be cluster1 or cluster2: select one of those Terraform workspaces (the default workspace is not a cluster)."
  }
}

variable "domain" {
  description = "Private DNS domain of the demo services, e.g. example.com (hostnames are demo-<cluster>.<domain>)."
  type        = string
  default     = "example.com"

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain)) && length(var.domain) <= 253
    error_message = "domain must be a lower-case DNS name with at least two labels, e.g. example.com."
  }
}

variable "region" {
  description = "AWS region the stacks run in, e.g. eu-west-1; the VPC Lattice managed prefix list names are derived from it."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$", var.region))
    error_message = "region must look like an AWS region name, e.g. eu-west-1 or us-gov-west-1."
  }
}

variable "app_namespace" {
  description = "Kubernetes namespace of the demo applications; it is also the `kubernetes-namespace` principal tag the IAM auth policies match."
  type        = string
  default     = "apps"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.app_namespace))
    error_message = "app_namespace must be a valid Kubernetes namespace name (RFC 1123 label)."
  }
}

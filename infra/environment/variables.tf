variable "region" {
  description = "AWS region of the whole deployment. The cluster stack reads it from this stack's outputs, so it is set here only."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$", var.region))
    error_message = "region must look like an AWS region name, e.g. eu-west-1."
  }
}

variable "domain" {
  description = "Private DNS domain served by the Route 53 private hosted zone and covered by the ACM certificate (apex and wildcard)."
  type        = string
  default     = "example.com"

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain))
    error_message = "domain must be a lower-case DNS name with at least two labels, e.g. example.com."
  }
}

variable "name_prefix" {
  description = "Prefix of the IAM role and ECR repository names."
  type        = string
  default     = "lattice-sigv4-proxy"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-24 characters of lower-case letters, digits and hyphens."
  }
}

variable "ca_organization" {
  description = "Organization (O) in the subject of the private root CA."
  type        = string
  default     = "Example Corp"

  validation {
    condition     = length(var.ca_organization) > 0 && length(var.ca_organization) <= 64
    error_message = "ca_organization must be 1-64 characters."
  }
}

variable "ca_validity_years" {
  description = "Validity of the self-signed root CA certificate, in years. ACM renews the leaf certificate; the root must outlive it."
  type        = number
  default     = 10

  validation {
    condition     = var.ca_validity_years >= 2 && var.ca_validity_years <= 30 && floor(var.ca_validity_years) == var.ca_validity_years
    error_message = "ca_validity_years must be a whole number between 2 and 30."
  }
}

variable "ca_permanent_deletion_days" {
  description = "Days a deleted private CA stays restorable (AWS allows 7-30). The CA is billed while it exists, also during this window."
  type        = number
  default     = 7

  validation {
    condition     = var.ca_permanent_deletion_days >= 7 && var.ca_permanent_deletion_days <= 30
    error_message = "ca_permanent_deletion_days must be between 7 and 30."
  }
}

variable "ecr_force_delete" {
  description = "Let `terraform destroy` delete the ECR repositories even when they still hold images (a demo stack; set false to keep images safe)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

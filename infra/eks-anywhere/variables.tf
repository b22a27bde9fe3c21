variable "environment_state_path" {
  description = "Path of the environment stack's state file (local backend), read for the region, account, name prefix and CA."
  type        = string
  default     = "../environment/terraform.tfstate"
}

variable "cluster_name" {
  description = "Name of the EKS Anywhere cluster; part of the IAM role name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be 2-32 characters of lower-case letters, digits and hyphens."
  }
}

variable "oidc_issuer_url" {
  description = "The cluster's service account issuer (kube-apiserver --service-account-issuer), an https URL without a trailing slash whose /.well-known/openid-configuration and JWKS are publicly reachable."
  type        = string

  validation {
    condition     = can(regex("^https://[a-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~-]+)*$", var.oidc_issuer_url))
    error_message = "oidc_issuer_url must be https://host[/path] with no trailing slash, exactly as in the tokens' iss claim."
  }
}

variable "oidc_thumbprints" {
  description = "SHA-1 thumbprints of the issuer's TLS certificate chain for the IAM OIDC provider; empty lets IAM use its trusted CA store (issuers with a publicly trusted certificate)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for t in var.oidc_thumbprints : can(regex("^[0-9a-fA-F]{40}$", t))])
    error_message = "Each thumbprint must be 40 hexadecimal characters (SHA-1)."
  }
}

variable "service_accounts" {
  description = "The Kubernetes service accounts (namespace and name) whose pods' sidecars may assume the role; each is pinned exactly in the trust policy's sub condition."
  type = list(object({
    namespace = string
    name      = string
  }))

  validation {
    condition     = length(var.service_accounts) > 0
    error_message = "At least one service account must be named."
  }

  validation {
    condition     = alltrue([for sa in var.service_accounts : can(regex("^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", sa.namespace)) && can(regex("^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", sa.name))])
    error_message = "Service account namespaces and names must be DNS subdomain names: no wildcards, the trust policy pins them exactly."
  }
}

variable "tags" {
  description = "Extra tags for every resource this stack creates."
  type        = map(string)
  default     = {}
}

variable "environment_state_path" {
  description = "Path of the environment stack's state file (local backend), read for the region, zone, CA, certificate, role and repositories."
  type        = string
  default     = "../environment/terraform.tfstate"

  validation {
    condition     = length(var.environment_state_path) > 0
    error_message = "environment_state_path must not be empty."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the cluster VPC. Both clusters use the same one on purpose: VPC Lattice connects overlapping address spaces."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("/([0-9]|1[0-9]|20)$", var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR of /20 or larger (subnets are carved out of it)."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m5.large"]

  validation {
    condition     = length(var.node_instance_types) > 0
    error_message = "At least one instance type is needed."
  }
}

variable "node_group_size" {
  description = "Minimum, desired and maximum size of the managed node group."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = { min = 2, desired = 2, max = 4 }

  validation {
    condition     = var.node_group_size.min >= 1 && var.node_group_size.min <= var.node_group_size.desired && var.node_group_size.desired <= var.node_group_size.max
    error_message = "node_group_size must satisfy 1 <= min <= desired <= max."
  }
}

variable "service_network_name" {
  description = "VPC Lattice service network both clusters join; it is also the name of the Gateway of charts/platform (the controller maps one to the other)."
  type        = string
  default     = "lattice-gateway"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])$", var.service_network_name))
    error_message = "service_network_name must be 3-63 lower-case letters, digits or hyphens."
  }
}

variable "gateway_namespace" {
  description = "Namespace of the platform release (the Gateway and the sidecar injection policy)."
  type        = string
  default     = "lattice-gateway"

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.gateway_namespace))
    error_message = "gateway_namespace must be a valid Kubernetes namespace name."
  }
}

variable "image_tag" {
  description = "Tag of the proxy and init images published to the environment's ECR repositories (immutable tags, so never `latest`)."
  type        = string
  default     = "0.1.0"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid image tag other than latest."
  }
}

variable "demo_image" {
  description = "Image of the demo application; empty keeps the default of charts/demo."
  type        = string
  default     = ""
}

variable "chart_versions" {
  description = "Pinned versions of the third-party Helm charts."
  type = object({
    gateway_api_controller = string
    external_dns           = string
    kyverno                = string
  })
  default = {
    gateway_api_controller = "v1.1.0"
    external_dns           = "1.15.2"
    kyverno                = "3.3.7"
  }

  validation {
    condition     = alltrue([for v in values(var.chart_versions) : can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", v))])
    error_message = "Every chart version must be an exact x.y.z version (no ranges)."
  }
}

variable "tags" {
  description = "Tags added to every AWS resource that takes tags."
  type        = map(string)
  default     = {}
}

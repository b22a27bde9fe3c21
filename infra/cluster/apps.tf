locals {
  charts_dir = "${path.module}/../../charts"

  platform_values = {
    gateway = {
      name           = var.service_network_name
      certificateArn = local.env.certificate_arn
    }
    sidecar = {
      proxyImage = "${local.env.proxy_repository_url}:${var.image_tag}"
      initImage  = "${local.env.init_repository_url}:${var.image_tag}"
      caArn      = local.env.ca_arn
      appDomain  = local.env.domain
      region     = local.region
    }
    kyverno = {
      enabled = true
    }
  }

  demo_values = {
    cluster   = module.naming.cluster
    domain    = local.env.domain
    namespace = module.naming.app_namespace
    # The IAM auth policy of this cluster's service admits the PEER cluster's
    # apps namespace only; calls from its own cluster are denied.
    allowedCaller = {
      eksClusterName = module.naming.peer_eks_cluster_name
      namespace      = module.naming.app_namespace
    }
    gateway = {
      name      = var.service_network_name
      namespace = var.gateway_namespace
    }
  }
}

# Pods of the demo app in the apps namespace get the sidecar role; their
# sessions carry eks-cluster-name=<this cluster> and kubernetes-namespace=apps.
resource "aws_eks_pod_identity_association" "sidecar" {
  cluster_name    = module.eks.cluster_name
  namespace       = module.naming.app_namespace
  service_account = module.naming.demo_app_name
  role_arn        = local.env.sidecar_role_arn
}

# Gateway (HTTPS listener with the ACM certificate) and the Kyverno policy that
# injects the SigV4 sidecar and its init container.
resource "helm_release" "platform" {
  name             = module.naming.platform_release_name
  chart            = "${local.charts_dir}/platform"
  namespace        = var.gateway_namespace
  create_namespace = true
  wait             = true

  values = [yamlencode(local.platform_values)]

  # Its ClusterPolicy is rejected unless Kyverno's webhooks answer, and its
  # Gateway needs the controller (and its CRDs) to be reconciled.
  depends_on = [
    helm_release.kyverno,
    helm_release.gateway_api_controller,
    helm_release.external_dns,
  ]
}

# The demo app: HTTPRoute demo-<cluster>.<domain> and an IAM auth policy that
# admits only the PEER cluster's apps namespace.
resource "helm_release" "demo" {
  name             = module.naming.demo_release_name
  chart            = "${local.charts_dir}/demo"
  namespace        = module.naming.app_namespace
  create_namespace = true
  wait             = true

  # A separate document, so an empty demo_image leaves the chart's default.
  values = compact([
    yamlencode(local.demo_values),
    var.demo_image == "" ? "" : yamlencode({ image = var.demo_image }),
  ])

  # Pods must be created after the injection policy and the Pod Identity
  # association exist, or they start without sidecar or credentials.
  depends_on = [
    helm_release.platform,
    aws_eks_pod_identity_association.sidecar,
    aws_vpc_security_group_ingress_rule.lattice_ipv4,
    aws_vpc_security_group_ingress_rule.lattice_ipv6,
  ]
}

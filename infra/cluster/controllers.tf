locals {
  gateway_api_controller = {
    namespace       = "aws-application-networking-system"
    service_account = "gateway-api-controller"
  }
  external_dns = {
    namespace       = "external-dns"
    service_account = "external-dns"
  }

  gateway_api_controller_values = {
    serviceAccount = {
      create = true
      name   = local.gateway_api_controller.service_account
    }
    # Given explicitly so the controller does not depend on IMDS.
    awsRegion    = local.region
    awsAccountId = data.aws_caller_identity.current.account_id
    clusterVpcId = module.vpc.vpc_id
    clusterName  = module.eks.cluster_name
    # The controller creates (or finds) this service network and associates the
    # VPC with it; the platform chart's Gateway carries the same name.
    defaultServiceNetwork = var.service_network_name
  }

  external_dns_values = {
    provider = { name = "aws" }
    serviceAccount = {
      create = true
      name   = local.external_dns.service_account
    }
    # Only the DNSEndpoint objects of the Gateway API controller.
    sources       = ["crd"]
    domainFilters = [local.env.domain]
    # Both clusters write into the same zone: each owns (and on sync deletes)
    # only the records it created.
    policy     = "sync"
    registry   = "txt"
    txtOwnerId = module.eks.cluster_name
    txtPrefix  = "${module.naming.cluster}-"
    extraArgs = [
      "--aws-zone-type=private",
      "--crd-source-apiversion=externaldns.k8s.io/v1alpha1",
      "--crd-source-kind=DNSEndpoint",
    ]
    env = [{ name = "AWS_DEFAULT_REGION", value = local.region }]
  }
}

# Every controller gets its own role, assumed through EKS Pod Identity.
data "aws_iam_policy_document" "pod_identity_trust" {
  statement {
    sid     = "EksPodIdentity"
    effect  = "Allow"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

################################################################################
# AWS Gateway API controller: turns Gateway/HTTPRoute/IAMAuthPolicy into VPC
# Lattice service network, services, listeners and auth policies, and writes
# a DNSEndpoint per custom hostname for ExternalDNS.
################################################################################

# The controller's recommended policy: Lattice needs `*` resources because the
# controller creates the resources whose ARNs it would otherwise be scoped to.
data "aws_iam_policy_document" "gateway_api_controller" {
  statement {
    sid    = "ManageLattice"
    effect = "Allow"
    actions = [
      "vpc-lattice:*",
      "ec2:DescribeVpcs",
      "ec2:DescribeSubnets",
      "ec2:DescribeTags",
      "ec2:DescribeSecurityGroups",
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:DescribeLogGroups",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "tag:GetResources",
      "firehose:TagDeliveryStream",
      "s3:GetBucketPolicy",
      "s3:PutBucketPolicy",
      "tag:TagResources",
      "tag:UntagResources",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "LatticeServiceLinkedRole"
    effect    = "Allow"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:aws:iam::*:role/aws-service-role/vpc-lattice.amazonaws.com/AWSServiceRoleForVpcLattice"]

    condition {
      test     = "StringLike"
      variable = "iam:AWSServiceName"
      values   = ["vpc-lattice.amazonaws.com"]
    }
  }

  statement {
    sid       = "LogDeliveryServiceLinkedRole"
    effect    = "Allow"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:aws:iam::*:role/aws-service-role/delivery.logs.amazonaws.com/AWSServiceRoleForLogDelivery"]

    condition {
      test     = "StringLike"
      variable = "iam:AWSServiceName"
      values   = ["delivery.logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "gateway_api_controller" {
  name               = module.naming.gateway_api_controller_role_name
  description        = "AWS Gateway API controller of ${module.naming.eks_cluster_name}"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_trust.json
}

resource "aws_iam_role_policy" "gateway_api_controller" {
  name   = "gateway-api-controller"
  role   = aws_iam_role.gateway_api_controller.id
  policy = data.aws_iam_policy_document.gateway_api_controller.json
}

resource "aws_eks_pod_identity_association" "gateway_api_controller" {
  cluster_name    = module.eks.cluster_name
  namespace       = local.gateway_api_controller.namespace
  service_account = local.gateway_api_controller.service_account
  role_arn        = aws_iam_role.gateway_api_controller.arn
}

resource "helm_release" "gateway_api_controller" {
  name             = "gateway-api-controller"
  repository       = "oci://public.ecr.aws/aws-application-networking-k8s"
  chart            = "aws-gateway-controller-chart"
  version          = var.chart_versions.gateway_api_controller
  namespace        = local.gateway_api_controller.namespace
  create_namespace = true
  wait             = true

  values = [yamlencode(local.gateway_api_controller_values)]

  # Pod Identity injects credentials when the pod is created: the association
  # and the agent must exist first, or the controller starts without them.
  depends_on = [
    aws_eks_pod_identity_association.gateway_api_controller,
    aws_iam_role_policy.gateway_api_controller,
  ]
}

################################################################################
# ExternalDNS: reads the controller's DNSEndpoint objects (--source=crd) and
# writes demo-<cluster>.<domain> into the private zone.
################################################################################

data "aws_iam_policy_document" "external_dns" {
  statement {
    sid       = "ChangeRecordsInPrivateZone"
    effect    = "Allow"
    actions   = ["route53:ChangeResourceRecordSets"]
    resources = [local.env.private_zone_arn]
  }

  statement {
    sid    = "DiscoverZones"
    effect = "Allow"
    actions = [
      "route53:ListHostedZones",
      "route53:ListResourceRecordSets",
      "route53:ListTagsForResource",
      "route53:ListTagsForResources",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role" "external_dns" {
  name               = module.naming.external_dns_role_name
  description        = "ExternalDNS of ${module.naming.eks_cluster_name}"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_trust.json
}

resource "aws_iam_role_policy" "external_dns" {
  name   = "external-dns"
  role   = aws_iam_role.external_dns.id
  policy = data.aws_iam_policy_document.external_dns.json
}

resource "aws_eks_pod_identity_association" "external_dns" {
  cluster_name    = module.eks.cluster_name
  namespace       = local.external_dns.namespace
  service_account = local.external_dns.service_account
  role_arn        = aws_iam_role.external_dns.arn
}

resource "helm_release" "external_dns" {
  name             = "external-dns"
  repository       = "https://kubernetes-sigs.github.io/external-dns/"
  chart            = "external-dns"
  version          = var.chart_versions.external_dns
  namespace        = local.external_dns.namespace
  create_namespace = true
  wait             = true

  values = [yamlencode(local.external_dns_values)]

  # The DNSEndpoint CRD ships with the Gateway API controller chart.
  depends_on = [
    helm_release.gateway_api_controller,
    aws_eks_pod_identity_association.external_dns,
    aws_iam_role_policy.external_dns,
    aws_route53_zone_association.private,
  ]
}

################################################################################
# Kyverno: runs the policy of charts/platform that injects the sidecar and the
# iptables init container into pods of the apps namespace.
################################################################################

resource "helm_release" "kyverno" {
  name             = "kyverno"
  repository       = "https://kyverno.github.io/kyverno/"
  chart            = "kyverno"
  version          = var.chart_versions.kyverno
  namespace        = "kyverno"
  create_namespace = true
  # Ready means its admission webhooks answer; the platform release (which
  # creates ClusterPolicies) waits for this.
  wait          = true
  wait_for_jobs = true
  timeout       = 900
}

# The cluster's service account issuer as an IAM OIDC provider; sts.amazonaws.com
# is the audience the pod identity webhook requests for the projected token.
resource "aws_iam_openid_connect_provider" "cluster" {
  url             = var.oidc_issuer_url
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = var.oidc_thumbprints
}

# Only tokens of this issuer, for exactly these service accounts and with the
# STS audience, may assume the role.
data "aws_iam_policy_document" "sidecar_irsa_trust" {
  statement {
    sid     = "EksAnywhereIrsa"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.cluster.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host_path}:sub"
      values   = local.subjects
    }

    condition {
      test     = "StringEquals"
      variable = "${local.issuer_host_path}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sidecar_irsa" {
  name               = local.role_name
  description        = "SigV4 sidecar on EKS Anywhere (IRSA): invoke VPC Lattice services and read the private root CA certificate."
  assume_role_policy = data.aws_iam_policy_document.sidecar_irsa_trust.json
}

# The same least privilege as the Pod Identity role of the environment stack:
# invoke Lattice services of this account and region, read this CA only.
data "aws_iam_policy_document" "sidecar_irsa" {
  statement {
    sid       = "InvokeLatticeServices"
    effect    = "Allow"
    actions   = ["vpc-lattice-svcs:Invoke"]
    resources = ["arn:${data.aws_partition.current.partition}:vpc-lattice:${local.region}:${local.env.account_id}:service/*"]
  }

  statement {
    sid       = "ReadPrivateRootCertificate"
    effect    = "Allow"
    actions   = ["acm-pca:GetCertificateAuthorityCertificate"]
    resources = [local.env.ca_arn]
  }
}

resource "aws_iam_role_policy" "sidecar_irsa" {
  name   = "lattice-invoke-and-ca-read"
  role   = aws_iam_role.sidecar_irsa.id
  policy = data.aws_iam_policy_document.sidecar_irsa.json
}

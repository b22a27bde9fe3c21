# Role of the SigV4 sidecar, shared by both clusters. Pod Identity assumes it
# and tags the session (eks-cluster-name, kubernetes-namespace, ...); those tags
# are what the Lattice IAM auth policies match, hence sts:TagSession.
data "aws_iam_policy_document" "sidecar_trust" {
  statement {
    sid     = "EksPodIdentity"
    effect  = "Allow"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }

    # Only Pod Identity sessions from this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sidecar" {
  name               = module.naming.sidecar_role_name
  description        = "SigV4 sidecar: invoke VPC Lattice services and read the private root CA certificate."
  assume_role_policy = data.aws_iam_policy_document.sidecar_trust.json
}

# Least privilege instead of the VPCLatticeServicesInvokeAccess and
# AWSCertificateManagerPrivateCAReadOnly managed policies: invoke Lattice
# services of this account and region, read the certificate of this CA only.
data "aws_iam_policy_document" "sidecar" {
  statement {
    sid       = "InvokeLatticeServices"
    effect    = "Allow"
    actions   = ["vpc-lattice-svcs:Invoke"]
    resources = ["arn:${local.partition}:vpc-lattice:${var.region}:${local.account_id}:service/*"]
  }

  statement {
    sid       = "ReadPrivateRootCertificate"
    effect    = "Allow"
    actions   = ["acm-pca:GetCertificateAuthorityCertificate"]
    resources = [aws_acmpca_certificate_authority.root.arn]
  }
}

resource "aws_iam_role_policy" "sidecar" {
  name   = "lattice-invoke-and-ca-read"
  role   = aws_iam_role.sidecar.id
  policy = data.aws_iam_policy_document.sidecar.json
}

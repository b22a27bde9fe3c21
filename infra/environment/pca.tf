# Root CA that issues the certificate VPC Lattice serves for the custom domain.
# The sidecar trusts it by fetching its certificate at start
# (acm-pca:GetCertificateAuthorityCertificate), so nothing is baked into images.
resource "aws_acmpca_certificate_authority" "root" {
  type                            = "ROOT"
  usage_mode                      = "GENERAL_PURPOSE"
  enabled                         = true
  permanent_deletion_time_in_days = var.ca_permanent_deletion_days

  certificate_authority_configuration {
    key_algorithm     = "RSA_4096"
    signing_algorithm = "SHA512WITHRSA"

    subject {
      common_name  = module.naming.ca_common_name
      organization = var.ca_organization
    }
  }
}

# A new CA is PENDING_CERTIFICATE until it installs a certificate; a root signs
# its own CSR with the RootCACertificate template.
resource "aws_acmpca_certificate" "root" {
  certificate_authority_arn   = aws_acmpca_certificate_authority.root.arn
  certificate_signing_request = aws_acmpca_certificate_authority.root.certificate_signing_request
  signing_algorithm           = "SHA512WITHRSA"
  template_arn                = "arn:${local.partition}:acm-pca:::template/RootCACertificate/V1"

  validity {
    type  = "YEARS"
    value = var.ca_validity_years
  }
}

resource "aws_acmpca_certificate_authority_certificate" "root" {
  certificate_authority_arn = aws_acmpca_certificate_authority.root.arn
  certificate               = aws_acmpca_certificate.root.certificate
  certificate_chain         = aws_acmpca_certificate.root.certificate_chain
}

# ACM renews private certificates itself only if the CA lets the ACM service
# principal issue and read certificates; without this the certificate silently
# stops renewing.
resource "aws_acmpca_permission" "acm_renewal" {
  certificate_authority_arn = aws_acmpca_certificate_authority.root.arn
  principal                 = "acm.amazonaws.com"
  actions                   = ["IssueCertificate", "GetCertificate", "ListPermissions"]
  source_account            = local.account_id
}

resource "aws_acm_certificate" "wildcard" {
  domain_name               = var.domain
  subject_alternative_names = [module.naming.wildcard_domain]
  certificate_authority_arn = aws_acmpca_certificate_authority.root.arn

  options {
    certificate_transparency_logging_preference = "DISABLED"
  }

  # Issuing needs an ACTIVE CA (its certificate installed); renewing needs the
  # permission to exist from the start.
  depends_on = [
    aws_acmpca_certificate_authority_certificate.root,
    aws_acmpca_permission.acm_renewal,
  ]

  lifecycle {
    create_before_destroy = true
  }
}

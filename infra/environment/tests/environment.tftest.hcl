# The whole environment graph evaluated against the real AWS provider schema,
# with every API call mocked: no credentials, nothing created.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_acmpca_certificate_authority" {
    defaults = {
      arn = "arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555"
    }
  }
}

run "defaults" {
  command = apply

  assert {
    condition     = output.region == "eu-west-1" && output.domain == "example.com"
    error_message = "Defaults must be eu-west-1 and example.com."
  }

  assert {
    condition     = aws_route53_zone.private.name == "example.com"
    error_message = "The private zone must be the domain."
  }

  assert {
    condition     = aws_acm_certificate.wildcard.domain_name == "example.com" && contains(tolist(aws_acm_certificate.wildcard.subject_alternative_names), "*.example.com")
    error_message = "The certificate must cover the apex and the wildcard."
  }

  assert {
    condition     = aws_acm_certificate.wildcard.certificate_authority_arn == output.ca_arn
    error_message = "The certificate must be issued by the private CA."
  }

  assert {
    condition     = aws_acmpca_certificate.root.template_arn == "arn:aws:acm-pca:::template/RootCACertificate/V1"
    error_message = "The root CA certificate must use the root template."
  }

  assert {
    condition     = aws_acmpca_permission.acm_renewal.principal == "acm.amazonaws.com" && length(aws_acmpca_permission.acm_renewal.actions) == 3
    error_message = "ACM must be allowed to renew the certificate."
  }

  assert {
    condition     = aws_iam_role.sidecar.name == "lattice-sigv4-proxy-sidecar"
    error_message = "Sidecar role name must come from the naming module."
  }

  assert {
    condition     = toset(data.aws_iam_policy_document.sidecar_trust.statement[0].actions) == toset(["sts:AssumeRole", "sts:TagSession"])
    error_message = "The trust policy must allow sts:AssumeRole and sts:TagSession."
  }

  assert {
    condition     = data.aws_iam_policy_document.sidecar.statement[0].resources == toset(["arn:aws:vpc-lattice:eu-west-1:123456789012:service/*"])
    error_message = "Lattice invoke must be limited to this account and region."
  }

  assert {
    condition     = data.aws_iam_policy_document.sidecar.statement[1].resources == toset([output.ca_arn])
    error_message = "The CA read permission must be limited to this CA."
  }

  assert {
    condition     = aws_ecr_repository.proxy.name == "lattice-sigv4-proxy" && aws_ecr_repository.init.name == "lattice-sigv4-proxy-init"
    error_message = "Repository names must come from the naming module."
  }

  assert {
    condition     = aws_ecr_repository.proxy.image_tag_mutability == "IMMUTABLE" && aws_ecr_repository.proxy.image_scanning_configuration[0].scan_on_push
    error_message = "The proxy repository must be immutable and scanned on push."
  }

  assert {
    condition     = output.proxy_repository_url == aws_ecr_repository.proxy.repository_url && output.init_repository_url == aws_ecr_repository.init.repository_url
    error_message = "The publish script reads the repository URLs from the outputs."
  }
}

run "other_region_and_domain" {
  command = apply

  variables {
    region = "us-west-2"
    domain = "corp.internal"
  }

  assert {
    condition     = aws_acm_certificate.wildcard.domain_name == "corp.internal" && contains(tolist(aws_acm_certificate.wildcard.subject_alternative_names), "*.corp.internal")
    error_message = "The certificate must follow the domain variable."
  }

  assert {
    condition     = data.aws_iam_policy_document.sidecar.statement[0].resources == toset(["arn:aws:vpc-lattice:us-west-2:123456789012:service/*"])
    error_message = "Lattice invoke must follow the region variable."
  }
}

run "rejects_a_bad_region" {
  command = plan

  variables {
    region = "Europe"
  }

  expect_failures = [var.region]
}

run "rejects_a_bad_domain" {
  command = plan

  variables {
    domain = "localhost"
  }

  expect_failures = [var.domain]
}

# The IRSA stack evaluated against the real AWS provider schema, with every API
# call mocked and the environment stack's state replaced: nothing is created.

mock_provider "aws" {
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

  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eksa.example.com/clusters/eksa-cluster3"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/lattice-sigv4-proxy-eksa-eksa-cluster3"
    }
  }
}

override_data {
  target = data.terraform_remote_state.environment
  values = {
    outputs = {
      region      = "eu-west-1"
      account_id  = "123456789012"
      name_prefix = "lattice-sigv4-proxy"
      ca_arn      = "arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555"
    }
  }
}

variables {
  cluster_name    = "eksa-cluster3"
  oidc_issuer_url = "https://oidc.eksa.example.com/clusters/eksa-cluster3"
  service_accounts = [
    { namespace = "apps", name = "demo-eksa-v1" },
  ]
}

run "defaults" {
  command = apply

  assert {
    condition     = aws_iam_openid_connect_provider.cluster.url == "https://oidc.eksa.example.com/clusters/eksa-cluster3" && tolist(aws_iam_openid_connect_provider.cluster.client_id_list) == tolist(["sts.amazonaws.com"])
    error_message = "The OIDC provider must be the cluster's issuer with the STS audience as its only client id."
  }

  assert {
    condition     = toset(data.aws_iam_policy_document.sidecar_irsa_trust.statement[0].actions) == toset(["sts:AssumeRoleWithWebIdentity"])
    error_message = "The trust policy must allow sts:AssumeRoleWithWebIdentity only."
  }

  assert {
    condition = length(data.aws_iam_policy_document.sidecar_irsa_trust.statement[0].principals) == 1 && anytrue([
      for p in data.aws_iam_policy_document.sidecar_irsa_trust.statement[0].principals :
      p.type == "Federated" && toset(p.identifiers) == toset([aws_iam_openid_connect_provider.cluster.arn])
    ])
    error_message = "The trust policy's only principal must be the cluster's OIDC provider."
  }

  assert {
    condition     = length(data.aws_iam_policy_document.sidecar_irsa_trust.statement[0].condition) == 2
    error_message = "The trust policy must have exactly the sub and aud conditions."
  }

  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.sidecar_irsa_trust.statement[0].condition :
      c.test == "StringEquals" && c.variable == "oidc.eksa.example.com/clusters/eksa-cluster3:sub" && toset(c.values) == toset(["system:serviceaccount:apps:demo-eksa-v1"])
    ])
    error_message = "The trust policy must pin sub to the service account exactly (StringEquals)."
  }

  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.sidecar_irsa_trust.statement[0].condition :
      c.test == "StringEquals" && c.variable == "oidc.eksa.example.com/clusters/eksa-cluster3:aud" && toset(c.values) == toset(["sts.amazonaws.com"])
    ])
    error_message = "The trust policy must pin aud to sts.amazonaws.com."
  }

  assert {
    condition     = aws_iam_role.sidecar_irsa.name == "lattice-sigv4-proxy-eksa-eksa-cluster3"
    error_message = "The role name must come from the environment's prefix and the cluster name."
  }

  assert {
    condition     = data.aws_iam_policy_document.sidecar_irsa.statement[0].resources == toset(["arn:aws:vpc-lattice:eu-west-1:123456789012:service/*"])
    error_message = "Lattice invoke must be limited to this account and region."
  }

  assert {
    condition     = data.aws_iam_policy_document.sidecar_irsa.statement[1].resources == toset(["arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/11111111-2222-3333-4444-555555555555"])
    error_message = "The CA read permission must be limited to the environment's CA."
  }

  assert {
    condition     = output.service_account_annotations == { "eks.amazonaws.com/role-arn" = aws_iam_role.sidecar_irsa.arn }
    error_message = "The annotation output must carry the role ARN."
  }
}

run "several_service_accounts" {
  command = plan

  variables {
    service_accounts = [
      { namespace = "apps", name = "demo-eksa-v1" },
      { namespace = "payments", name = "api" },
    ]
  }

  assert {
    condition     = output.trusted_subjects == ["system:serviceaccount:apps:demo-eksa-v1", "system:serviceaccount:payments:api"]
    error_message = "Every service account must be pinned by its full sub."
  }
}

run "rejects_a_wildcard_service_account" {
  command = plan

  variables {
    service_accounts = [{ namespace = "apps", name = "*" }]
  }

  expect_failures = [var.service_accounts]
}

run "rejects_no_service_account" {
  command = plan

  variables {
    service_accounts = []
  }

  expect_failures = [var.service_accounts]
}

run "rejects_a_plain_http_issuer" {
  command = plan

  variables {
    oidc_issuer_url = "http://oidc.eksa.example.com/clusters/eksa-cluster3"
  }

  expect_failures = [var.oidc_issuer_url]
}

run "rejects_a_trailing_slash" {
  command = plan

  variables {
    oidc_issuer_url = "https://oidc.eksa.example.com/clusters/eksa-cluster3/"
  }

  expect_failures = [var.oidc_issuer_url]
}

run "rejects_a_bad_thumbprint" {
  command = plan

  variables {
    oidc_thumbprints = ["not-a-thumbprint"]
  }

  expect_failures = [var.oidc_thumbprints]
}

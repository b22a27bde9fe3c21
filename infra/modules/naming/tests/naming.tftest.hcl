# Provider-free: every run is a plan of a module without resources.

variables {
  region = "eu-west-1"
}

run "cluster1_calls_cluster2" {
  command = plan

  variables {
    cluster = "cluster1"
  }

  assert {
    condition     = output.eks_cluster_name == "eks-cluster1"
    error_message = "cluster1 must be named eks-cluster1 (the eks-cluster-name session tag)."
  }

  assert {
    condition     = output.peer_cluster == "cluster2" && output.peer_eks_cluster_name == "eks-cluster2"
    error_message = "The peer of cluster1 must be cluster2 / eks-cluster2."
  }

  assert {
    condition     = output.demo_hostname == "demo-cluster1.example.com" && output.peer_demo_hostname == "demo-cluster2.example.com"
    error_message = "Demo hostnames must be demo-<cluster>.<domain>."
  }

  assert {
    condition     = output.demo_release_name == "demo-cluster1" && output.platform_release_name == "platform-cluster1"
    error_message = "Release names must carry the cluster key."
  }

  assert {
    condition     = output.demo_app_name == "demo-cluster1-v1"
    error_message = "The demo service account (charts/demo) is demo-<cluster>-v1."
  }
}

run "cluster2_calls_cluster1" {
  command = plan

  variables {
    cluster = "cluster2"
  }

  assert {
    condition     = output.eks_cluster_name == "eks-cluster2" && output.peer_eks_cluster_name == "eks-cluster1"
    error_message = "cluster2 must be eks-cluster2 and allow eks-cluster1."
  }
}

run "prefix_lists_for_both_address_families" {
  command = plan

  variables {
    region = "us-west-2"
  }

  assert {
    condition     = output.lattice_prefix_list_names.ipv4 == "com.amazonaws.us-west-2.vpc-lattice"
    error_message = "Wrong IPv4 VPC Lattice prefix list name."
  }

  assert {
    condition     = output.lattice_prefix_list_names.ipv6 == "com.amazonaws.us-west-2.ipv6.vpc-lattice"
    error_message = "Wrong IPv6 VPC Lattice prefix list name."
  }
}

run "environment_has_no_cluster_names" {
  command = plan

  assert {
    condition     = output.eks_cluster_name == "" && output.peer_cluster == "" && output.gateway_api_controller_role_name == ""
    error_message = "Without a cluster there must be no cluster-specific names."
  }

  assert {
    condition     = output.sidecar_role_name == "lattice-sigv4-proxy-sidecar" && output.proxy_repository_name == "lattice-sigv4-proxy" && output.init_repository_name == "lattice-sigv4-proxy-init"
    error_message = "Account-wide names must derive from name_prefix."
  }

  assert {
    condition     = output.wildcard_domain == "*.example.com"
    error_message = "The certificate wildcard must cover the domain."
  }
}

run "role_names_fit_iam_limit" {
  command = plan

  variables {
    cluster     = "cluster2"
    name_prefix = "abcdefghijklmnopqrstuvwx"
  }

  assert {
    condition     = length(output.gateway_api_controller_role_name) <= 64 && length(output.external_dns_role_name) <= 64
    error_message = "IAM role names are limited to 64 characters."
  }
}

run "default_workspace_is_rejected" {
  command = plan

  variables {
    cluster = "default"
  }

  expect_failures = [var.cluster]
}

run "bad_domain_is_rejected" {
  command = plan

  variables {
    domain = "Example..com"
  }

  expect_failures = [var.domain]
}

run "bad_region_is_rejected" {
  command = plan

  variables {
    region = "europe"
  }

  expect_failures = [var.region]
}

run "long_prefix_is_rejected" {
  command = plan

  variables {
    name_prefix = "abcdefghijklmnopqrstuvwxy"
  }

  expect_failures = [var.name_prefix]
}

run "bad_namespace_is_rejected" {
  command = plan

  variables {
    app_namespace = "Apps_"
  }

  expect_failures = [var.app_namespace]
}

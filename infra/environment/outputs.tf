output "region" {
  description = "AWS region of the deployment (the cluster stack and the image publish script use it)."
  value       = var.region
}

output "account_id" {
  description = "AWS account id the environment lives in."
  value       = local.account_id
}

output "domain" {
  description = "Private DNS domain of the demo services."
  value       = var.domain
}

output "name_prefix" {
  description = "Prefix of account-wide names, passed on to the cluster stack."
  value       = var.name_prefix
}

output "private_zone_id" {
  description = "Route 53 private hosted zone id (the cluster VPCs associate with it)."
  value       = aws_route53_zone.private.zone_id
}

output "private_zone_arn" {
  description = "Route 53 private hosted zone ARN (ExternalDNS may change records in it only)."
  value       = aws_route53_zone.private.arn
}

output "ca_arn" {
  description = "ARN of the private root CA; the sidecar fetches its certificate to trust Lattice's TLS."
  value       = aws_acmpca_certificate_authority.root.arn
}

output "certificate_arn" {
  description = "ARN of the ACM private certificate for the domain and its wildcard (the Gateway's HTTPS listener)."
  value       = aws_acm_certificate.wildcard.arn
}

output "sidecar_role_arn" {
  description = "IAM role the sidecar assumes through EKS Pod Identity."
  value       = aws_iam_role.sidecar.arn
}

output "proxy_repository_url" {
  description = "ECR repository URL of the proxy image (scripts/publish reads it)."
  value       = aws_ecr_repository.proxy.repository_url
}

output "init_repository_url" {
  description = "ECR repository URL of the iptables init image (scripts/publish reads it)."
  value       = aws_ecr_repository.init.repository_url
}

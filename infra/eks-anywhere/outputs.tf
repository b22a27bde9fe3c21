output "role_arn" {
  description = "IAM role for the sidecar: annotate the service accounts with eks.amazonaws.com/role-arn set to it."
  value       = aws_iam_role.sidecar_irsa.arn
}

output "oidc_provider_arn" {
  description = "ARN of the IAM OIDC provider for the cluster's service account issuer."
  value       = aws_iam_openid_connect_provider.cluster.arn
}

output "service_account_annotations" {
  description = "The annotation each listed service account needs, for kubectl annotate or a Helm values file."
  value       = { "eks.amazonaws.com/role-arn" = aws_iam_role.sidecar_irsa.arn }
}

output "trusted_subjects" {
  description = "The sub values the trust policy pins (system:serviceaccount:<namespace>:<name>)."
  value       = local.subjects
}

################################################################################
# Secret and key
################################################################################

output "secret_arn" {
  description = "ARN of the secret (primary region)."
  value       = try(aws_secretsmanager_secret.this[0].arn, null)
}

output "secret_name" {
  description = "Name of the secret."
  value       = try(aws_secretsmanager_secret.this[0].name, null)
}

output "secret_replica_arns" {
  description = "ARNs of the secret's replicas, by region."
  value       = try({ for r in var.replicas : r.region => replace(aws_secretsmanager_secret.this[0].arn, ":${local.region}:", ":${r.region}:") }, null)
}

output "initial_version_id" {
  description = "Version id of the seed written from initial_keyset (null when create_initial_version is false). Not secret: the value itself is write-only."
  value       = try(aws_secretsmanager_secret_version.this[0].version_id, null)
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the secret (created, or the one passed in)."
  value       = var.create ? local.kms_key_arn : null
}

################################################################################
# IAM
################################################################################

output "reader_policy_json" {
  description = "IAM policy for services: read this secret and decrypt it via Secrets Manager. No write action."
  value       = try(data.aws_iam_policy_document.reader[0].json, null)
}

output "rotator_policy_json" {
  description = "IAM policy for the rotation pipeline: the reader policy plus PutSecretValue and UpdateSecretVersionStage."
  value       = try(data.aws_iam_policy_document.rotator[0].json, null)
}

output "reader_role_policy_names" {
  description = "Inline policies attached to reader_role_names, by role."
  value       = { for role, p in aws_iam_role_policy.reader : role => p.name }
}

output "rotator_role_policy_names" {
  description = "Inline policies attached to rotator_role_names, by role."
  value       = { for role, p in aws_iam_role_policy.rotator : role => p.name }
}

################################################################################
# What a service needs
################################################################################

output "source_url" {
  description = "r2jwt source URL for this secret (DESIGN.md, Sources): aws-sm://NAME?region=REGION."
  value       = try("aws-sm://${aws_secretsmanager_secret.this[0].name}?region=${local.region}", null)
}

output "service_env" {
  description = "Environment a service with the reader policy needs to sign tokens with this keyset."
  value = try({
    AWS_REGION   = local.region
    R2JWT_SOURCE = "aws-sm://${aws_secretsmanager_secret.this[0].name}?region=${local.region}"
  }, null)
}

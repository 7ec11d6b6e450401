output "source_url" {
  description = "R2JWT_SOURCE for services."
  value       = module.r2jwt_keyset.source_url
}

output "service_env" {
  description = "Environment for a service running as the reader role."
  value       = module.r2jwt_keyset.service_env
}

output "secret_arn" {
  description = "ARN of the keyset secret."
  value       = module.r2jwt_keyset.secret_arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts it."
  value       = module.r2jwt_keyset.kms_key_arn
}

output "reader_policy_json" {
  description = "The reader policy, for review or for attaching elsewhere."
  value       = module.r2jwt_keyset.reader_policy_json
}

output "source_url" {
  description = "R2JWT_SOURCE for the service (Kubernetes auth)."
  value       = module.r2jwt_keyset.source_url
}

output "rotation_source_url" {
  description = "Source URL for the rotation pipeline (AppRole auth)."
  value       = module.r2jwt_keyset.source_urls["approle"]
}

output "service_env" {
  description = "Environment for the service, besides VAULT_ADDR (and VAULT_CACERT / VAULT_NAMESPACE where used)."
  value       = module.r2jwt_keyset.service_env
}

output "reader_policy_name" {
  description = "Vault policy bound to the service's role."
  value       = module.r2jwt_keyset.reader_policy_name
}

output "rotator_policy_name" {
  description = "Vault policy bound to the rotation AppRole."
  value       = module.r2jwt_keyset.rotator_policy_name
}

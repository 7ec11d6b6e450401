################################################################################
# Mount and secret
################################################################################

output "mount_path" {
  description = "Path of the KV v2 mount."
  value       = var.create ? local.mount_path : null
}

output "secret_path" {
  description = "Logical path of the keyset secret inside the mount."
  value       = var.create ? var.secret_path : null
}

output "data_path" {
  description = "KV v2 API path services read: MOUNT/data/PATH."
  value       = var.create ? local.data_path : null
}

################################################################################
# Policies and roles
################################################################################

output "reader_policy_name" {
  description = "Name of the Vault policy that may only read the keyset."
  value       = try(vault_policy.reader[0].name, null)
}

output "rotator_policy_name" {
  description = "Name of the Vault policy for `r2jwt keys add/retire/remove` (create/update/read on data, read on metadata)."
  value       = try(vault_policy.rotator[0].name, null)
}

output "reader_policy_hcl" {
  description = "The reader policy document."
  value       = try(data.vault_policy_document.reader[0].hcl, null)
}

output "rotator_policy_hcl" {
  description = "The rotator policy document."
  value       = try(data.vault_policy_document.rotator[0].hcl, null)
}

output "approle_role_ids" {
  description = "RoleIDs of the AppRole roles, by role name. Half of an AppRole credential: sensitive."
  value       = try({ for name, r in vault_approle_auth_backend_role.this : name => r.role_id }, null)
  sensitive   = true
}

output "kubernetes_role_names" {
  description = "Kubernetes auth roles created, with the policy each is bound to."
  value       = try({ for name, r in var.kubernetes_roles : name => local.policy_names[r.access] if var.create }, null)
}

################################################################################
# What a service needs
################################################################################

output "source_url" {
  description = "r2jwt source URL with auth=source_auth: vault://MOUNT/PATH?kv=2&auth=AUTH (approle and kubernetes add auth_mount=; kubernetes adds role= when there is exactly one reader Kubernetes role)."
  value       = try(var.create ? local.source_url : null, null)
}

output "source_urls" {
  description = "r2jwt source URLs for each auth method: token, approle (with auth_mount), kubernetes (with auth_mount; the role comes from VAULT_K8S_ROLE, or see kubernetes_source_urls)."
  value       = try(var.create ? local.source_urls : null, null)
}

output "kubernetes_source_urls" {
  description = "r2jwt source URLs for Kubernetes auth, by Kubernetes role name (role= set)."
  value       = try(var.create ? local.kubernetes_source_urls : null, null)
}

output "service_env" {
  description = "Environment (besides VAULT_ADDR, VAULT_NAMESPACE, VAULT_CACERT and the credentials of the auth method) a service needs."
  value = try(var.create ? {
    R2JWT_SOURCE = local.source_url
  } : null, null)
}

locals {
  mount_path = var.create_mount ? try(vault_mount.this[0].path, var.mount_path) : var.mount_path

  # KV v2 API paths: services read <mount>/data/<path>; r2jwt's writer reads and writes it with cas.
  # Reading <mount>/metadata/<path> lets the rotation identity inspect the version history.
  data_path     = "${local.mount_path}/data/${var.secret_path}"
  metadata_path = "${local.mount_path}/metadata/${var.secret_path}"

  policy_base_name    = "r2jwt-${replace("${var.mount_path}-${var.secret_path}", "/[^A-Za-z0-9_.-]/", "-")}"
  reader_policy_name  = coalesce(var.reader_policy_name, "${local.policy_base_name}-reader")
  rotator_policy_name = coalesce(var.rotator_policy_name, "${local.policy_base_name}-rotator")

  policy_names = {
    reader  = try(vault_policy.reader[0].name, null)
    rotator = try(vault_policy.rotator[0].name, null)
  }

  # r2jwt source URLs (README, HashiCorp Vault). MOUNT is the URL's first segment, so the slashes
  # of a nested mount are written %2F.
  url_base = "vault://${replace(local.mount_path, "/", "%2F")}/${var.secret_path}?kv=2"
  auth_query = {
    token      = "auth=token"
    approle    = "auth=approle&auth_mount=${var.approle_backend}"
    kubernetes = "auth=kubernetes&auth_mount=${var.kubernetes_backend}"
  }
  source_urls = { for auth, query in local.auth_query : auth => "${local.url_base}&${query}" }

  # Kubernetes logins name their Vault role: role= in the URL (or VAULT_K8S_ROLE at run time).
  kubernetes_source_urls = { for name in keys(var.kubernetes_roles) : name => "${local.source_urls["kubernetes"]}&role=${name}" }
  kubernetes_reader_roles = [for name, role in var.kubernetes_roles : name if role.access == "reader"]

  # The service's URL: with exactly one reader Kubernetes role, it names that role.
  source_url = (
    var.source_auth == "kubernetes" && length(local.kubernetes_reader_roles) == 1
    ? local.kubernetes_source_urls[local.kubernetes_reader_roles[0]]
    : local.source_urls[var.source_auth]
  )
}

################################################################################
# KV v2 mount
################################################################################

resource "vault_mount" "this" {
  count = var.create && var.create_mount ? 1 : 0

  namespace   = var.namespace
  path        = var.mount_path
  type        = "kv"
  options     = { version = "2" }
  description = var.mount_description
}

# Every write must carry check-and-set, so two rotations can never silently overwrite each other.
resource "vault_kv_secret_backend_v2" "this" {
  count = var.create && (var.create_mount || var.configure_existing_mount) ? 1 : 0

  namespace            = var.namespace
  mount                = local.mount_path
  cas_required         = true
  max_versions         = var.max_versions
  delete_version_after = var.delete_version_after
}

################################################################################
# Optional seed (the normal path is `r2jwt keys add` with the rotator policy)
################################################################################

resource "vault_kv_secret_v2" "this" {
  count = var.create && var.create_initial_version ? 1 : 0

  namespace = var.namespace
  mount     = local.mount_path
  name      = var.secret_path

  # The keyset document's fields become the secret's data ({"keys": [...]}). Write-only from an
  # ephemeral variable: the value is in neither state nor plan.
  data_json_wo         = var.initial_keyset
  data_json_wo_version = var.initial_keyset_version

  # cas = 0: create only. Terraform must never overwrite a keyset that r2jwt has since rotated.
  cas = 0

  # Never read the keyset back into state (the computed data attribute would hold it), and do
  # not report r2jwt's later versions as drift.
  disable_read = true

  custom_metadata {
    cas_required         = true
    max_versions         = var.max_versions
    delete_version_after = var.delete_version_after
    data                 = var.tags
  }

  depends_on = [vault_kv_secret_backend_v2.this]

  # Destroying this resource deletes the secret's latest version, whoever wrote it: the live keyset.
  # To stop managing the seed, `terraform state rm` it (README, Seeding from Terraform).
  lifecycle {
    prevent_destroy = true
  }
}

################################################################################
# Policies
################################################################################

data "vault_policy_document" "reader" {
  count = var.create ? 1 : 0

  rule {
    path         = local.data_path
    capabilities = ["read"]
    description  = "r2jwt reader: read the current keyset, nothing else"
  }
}

data "vault_policy_document" "rotator" {
  count = var.create ? 1 : 0

  rule {
    path         = local.data_path
    capabilities = ["create", "read", "update"]
    description  = "r2jwt rotator: read-modify-write the keyset with check-and-set"
  }

  rule {
    path         = local.metadata_path
    capabilities = ["read"]
    description  = "r2jwt rotator: read the version history (r2jwt takes cas from the data read)"
  }
}

resource "vault_policy" "reader" {
  count = var.create ? 1 : 0

  namespace = var.namespace
  name      = local.reader_policy_name
  policy    = data.vault_policy_document.reader[0].hcl
}

resource "vault_policy" "rotator" {
  count = var.create ? 1 : 0

  namespace = var.namespace
  name      = local.rotator_policy_name
  policy    = data.vault_policy_document.rotator[0].hcl
}

################################################################################
# Auth roles bound to those policies
################################################################################

resource "vault_approle_auth_backend_role" "this" {
  for_each = var.create ? var.approle_roles : {}

  namespace             = var.namespace
  backend               = var.approle_backend
  role_name             = each.key
  token_policies        = [local.policy_names[each.value.access]]
  token_ttl             = each.value.token_ttl
  token_max_ttl         = each.value.token_max_ttl
  token_bound_cidrs     = each.value.token_bound_cidrs
  secret_id_ttl         = each.value.secret_id_ttl
  secret_id_num_uses    = each.value.secret_id_num_uses
  secret_id_bound_cidrs = each.value.secret_id_bound_cidrs
}

resource "vault_kubernetes_auth_backend_role" "this" {
  for_each = var.create ? var.kubernetes_roles : {}

  namespace                        = var.namespace
  backend                          = var.kubernetes_backend
  role_name                        = each.key
  bound_service_account_names      = each.value.bound_service_account_names
  bound_service_account_namespaces = each.value.bound_service_account_namespaces
  audience                         = each.value.audience
  token_policies                   = [local.policy_names[each.value.access]]
  token_ttl                        = each.value.token_ttl
  token_max_ttl                    = each.value.token_max_ttl
}

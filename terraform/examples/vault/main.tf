# Address and token come from VAULT_ADDR / VAULT_TOKEN (or the provider's auth_login), never from here.
provider "vault" {}

module "r2jwt_keyset" {
  source = "../../modules/vault"

  mount_path   = "r2jwt"
  secret_path  = "payments-api/r2-jwt"
  max_versions = 20

  # AppRole for the rotation pipeline; Kubernetes auth for the service itself.
  approle_roles = {
    "r2jwt-rotation" = {
      access        = "rotator"
      token_ttl     = 900
      token_max_ttl = 1800
    }
  }

  kubernetes_roles = {
    "payments-api-r2jwt" = {
      access                           = "reader"
      bound_service_account_names      = [var.service_account]
      bound_service_account_namespaces = [var.service_namespace]
    }
  }

  source_auth = "kubernetes"

  # No initial value here: after apply, the rotation pipeline (AppRole r2jwt-rotation) runs
  #   r2jwt keys add --source "$(terraform output -raw rotation_source_url)" --kid K --secret-stdin
}

terraform {
  # 1.11: write-only arguments (data_json_wo) and ephemeral input variables.
  required_version = ">= 1.11"

  required_providers {
    vault = {
      source = "hashicorp/vault"
      # 5.0 added the write-only vault_kv_secret_v2 data_json_wo / data_json_wo_version.
      version = ">= 5.0, < 6.0"
    }
  }
}

terraform {
  # 1.11: write-only arguments and ephemeral input variables, as the module requires.
  required_version = ">= 1.11"

  required_providers {
    vault = {
      source  = "hashicorp/vault"
      version = ">= 5.0, < 6.0"
    }
  }
}

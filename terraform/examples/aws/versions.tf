terraform {
  # 1.11: write-only arguments and ephemeral input variables, as the module requires.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}

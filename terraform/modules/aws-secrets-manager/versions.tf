terraform {
  # 1.11: write-only arguments (secret_string_wo) and ephemeral input variables.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.0: data.aws_region.region (name is deprecated) and the 6.x
      # aws_secretsmanager_secret_version docs with secret_string_wo / _version.
      version = ">= 6.0, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

module "r2jwt_keyset" {
  source = "../../modules/aws-secrets-manager"

  tags = {
    Service = "payments-api"
    Owner   = "platform"
  }

  name = "payments-api/r2-jwt"

  # A customer-managed key is created. With no key_administrators its administration is left to IAM
  # in this account; to name admins, include the role that runs Terraform (KMS lockout check).

  # The service only reads; the rotation role also writes new versions.
  reader_role_names  = [var.service_role_name]
  rotator_role_names = [var.rotation_role_name]

  # No initial value here: after apply, the rotation role runs
  #   r2jwt keys add --source "$(terraform output -raw source_url)" --kid K --secret-stdin
}

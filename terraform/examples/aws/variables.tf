variable "region" {
  description = "AWS region of the secret, e.g. eu-west-1."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be a region code such as eu-west-1."
  }
}

variable "service_role_name" {
  description = "Existing IAM role of the service that signs R2 tokens (gets the reader policy)."
  type        = string
  default     = "payments-api"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.service_role_name))
    error_message = "service_role_name must be a role name, not an ARN."
  }
}

variable "rotation_role_name" {
  description = "Existing IAM role that runs `r2jwt keys add` (gets the rotator policy)."
  type        = string
  default     = "r2jwt-rotation"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.rotation_role_name))
    error_message = "rotation_role_name must be a role name, not an ARN."
  }
}

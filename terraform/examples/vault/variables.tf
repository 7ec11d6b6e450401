variable "service_namespace" {
  description = "Kubernetes namespace of the service that signs R2 tokens."
  type        = string
  default     = "payments"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.service_namespace))
    error_message = "service_namespace must be a Kubernetes namespace name."
  }
}

variable "service_account" {
  description = "Kubernetes service account of that service."
  type        = string
  default     = "payments-api"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", var.service_account))
    error_message = "service_account must be a Kubernetes service account name."
  }
}

variable "create" {
  description = "Whether to create any resource at all (false turns the module into a no-op)."
  type        = bool
  default     = true
  nullable    = false
}

variable "tags" {
  description = "Key/value pairs written to the secret's custom_metadata when the module seeds it (Vault has no resource tags)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "namespace" {
  description = "Vault Enterprise namespace, relative to the provider's namespace (null: the provider's)."
  type        = string
  default     = null

  validation {
    condition     = var.namespace == null || can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.namespace))
    error_message = "namespace must not start or end with a slash."
  }
}

################################################################################
# KV v2 mount
################################################################################

variable "create_mount" {
  description = "Create the KV v2 mount at mount_path (with cas_required and max_versions). false: use an existing KV v2 mount there."
  type        = bool
  default     = true
  nullable    = false
}

variable "configure_existing_mount" {
  description = "With create_mount = false, also set cas_required = true and max_versions on the existing mount. This affects every key on that mount, so it is off by default."
  type        = bool
  default     = false
  nullable    = false
}

variable "mount_path" {
  description = "Path of the KV v2 mount, e.g. \"r2jwt\" (the MOUNT in vault://MOUNT/PATH)."
  type        = string
  default     = "r2jwt"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.mount_path))
    error_message = "mount_path must not be empty, start or end with a slash, or contain spaces or wildcards."
  }
}

variable "mount_description" {
  description = "Description of the mount the module creates."
  type        = string
  default     = "r2jwt keysets (KV v2, check-and-set required)"
  nullable    = false
}

variable "max_versions" {
  description = "Versions Vault keeps per key (at least 2, so the previous keyset can be restored)."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.max_versions >= 2 && floor(var.max_versions) == var.max_versions
    error_message = "max_versions must be a whole number >= 2 (0 would mean Vault's default of 10, silently)."
  }
}

variable "delete_version_after" {
  description = "Seconds after which old versions are deleted (0: never)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.delete_version_after >= 0 && floor(var.delete_version_after) == var.delete_version_after
    error_message = "delete_version_after must be a whole number of seconds >= 0."
  }
}

################################################################################
# Secret
################################################################################

variable "secret_path" {
  description = "Path of the keyset secret inside the mount, e.g. \"r2/jwt\" (the PATH in vault://MOUNT/PATH), without the KV v2 data/ or metadata/ prefix."
  type        = string
  default     = "r2/jwt"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.@=+-]+(/[A-Za-z0-9_.@=+-]+)*$", var.secret_path))
    error_message = "secret_path must not be empty, start or end with a slash, or contain spaces or wildcards."
  }

  validation {
    condition     = !startswith(var.secret_path, "data/") && !startswith(var.secret_path, "metadata/")
    error_message = "secret_path is the logical path: leave out the KV v2 API prefix data/ or metadata/."
  }
}

variable "create_initial_version" {
  description = "Write initial_keyset as version 1 of the secret through the write-only data_json_wo (check-and-set 0: only if the secret does not exist). Leave false to seed with `r2jwt keys add` instead."
  type        = bool
  default     = false
  nullable    = false
}

variable "initial_keyset" {
  description = "Initial r2jwt keyset document as JSON, stored as the secret's fields ({\"keys\": [...]}). Ephemeral: never stored in state or plan. Only used when create_initial_version is true."
  type        = string
  default     = null
  ephemeral   = true
  sensitive   = true

  validation {
    condition     = var.initial_keyset == null || can(jsondecode(var.initial_keyset).keys) || can(jsondecode(var.initial_keyset).kid)
    error_message = "initial_keyset must be a JSON keyset document with a \"keys\" list or the single-key {\"kid\", \"secret\"} shorthand."
  }
}

variable "initial_keyset_version" {
  description = "Version number for data_json_wo; changing it makes Terraform write initial_keyset again (which fails once the secret exists, by design: cas = 0)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.initial_keyset_version >= 1 && floor(var.initial_keyset_version) == var.initial_keyset_version
    error_message = "initial_keyset_version must be a whole number >= 1."
  }
}

################################################################################
# Policies
################################################################################

variable "reader_policy_name" {
  description = "Name of the reader policy (null: \"r2jwt-\" + mount_path + \"-\" + secret_path, with / replaced, + \"-reader\")."
  type        = string
  default     = null

  validation {
    condition     = var.reader_policy_name == null || can(regex("^[A-Za-z0-9_.-]{1,128}$", var.reader_policy_name))
    error_message = "reader_policy_name may contain only letters, digits and _.- (1 to 128 characters)."
  }
}

variable "rotator_policy_name" {
  description = "Name of the rotator policy (null: as reader_policy_name, ending in \"-rotator\")."
  type        = string
  default     = null

  validation {
    condition     = var.rotator_policy_name == null || can(regex("^[A-Za-z0-9_.-]{1,128}$", var.rotator_policy_name))
    error_message = "rotator_policy_name may contain only letters, digits and _.- (1 to 128 characters)."
  }
}

################################################################################
# Auth roles
################################################################################

variable "approle_backend" {
  description = "Path of an existing AppRole auth mount for approle_roles."
  type        = string
  default     = "approle"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.approle_backend)) && !startswith(var.approle_backend, "auth/")
    error_message = "approle_backend is the mount path without the auth/ prefix and without slashes at either end, e.g. \"approle\"."
  }
}

variable "approle_roles" {
  description = "AppRole roles to create, by role name. access is \"reader\" (services) or \"rotator\" (r2jwt keys add). TTLs are in seconds. Secret IDs are not created here: they would land in state."
  type = map(object({
    access                = string
    token_ttl             = optional(number, 3600)
    token_max_ttl         = optional(number, 14400)
    secret_id_ttl         = optional(number, 0)
    secret_id_num_uses    = optional(number, 0)
    secret_id_bound_cidrs = optional(list(string), [])
    token_bound_cidrs     = optional(list(string), [])
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for name in keys(var.approle_roles) : can(regex("^[A-Za-z0-9_.-]{1,128}$", name))])
    error_message = "approle_roles keys are role names: letters, digits and _.- only."
  }

  validation {
    condition     = alltrue([for r in values(var.approle_roles) : contains(["reader", "rotator"], r.access)])
    error_message = "Each approle_roles entry needs access = \"reader\" or \"rotator\"."
  }

  validation {
    condition     = alltrue([for r in values(var.approle_roles) : r.token_ttl > 0 && r.token_max_ttl >= r.token_ttl])
    error_message = "approle_roles: token_ttl must be > 0 and token_max_ttl >= token_ttl."
  }

  validation {
    condition = alltrue(flatten([
      for r in values(var.approle_roles) : [for c in concat(r.secret_id_bound_cidrs, r.token_bound_cidrs) : can(cidrhost(c, 0))]
    ]))
    error_message = "approle_roles: secret_id_bound_cidrs and token_bound_cidrs must be CIDR blocks."
  }
}

variable "kubernetes_backend" {
  description = "Path of an existing Kubernetes auth mount for kubernetes_roles."
  type        = string
  default     = "kubernetes"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.kubernetes_backend)) && !startswith(var.kubernetes_backend, "auth/")
    error_message = "kubernetes_backend is the mount path without the auth/ prefix and without slashes at either end, e.g. \"kubernetes\"."
  }
}

variable "kubernetes_roles" {
  description = "Kubernetes auth roles to create, by role name, bound to named service accounts in named namespaces. access is \"reader\" or \"rotator\". TTLs are in seconds."
  type = map(object({
    access                           = string
    bound_service_account_names      = list(string)
    bound_service_account_namespaces = list(string)
    audience                         = optional(string)
    token_ttl                        = optional(number, 3600)
    token_max_ttl                    = optional(number, 14400)
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for name in keys(var.kubernetes_roles) : can(regex("^[A-Za-z0-9_.-]{1,128}$", name))])
    error_message = "kubernetes_roles keys are role names: letters, digits and _.- only."
  }

  validation {
    condition     = alltrue([for r in values(var.kubernetes_roles) : contains(["reader", "rotator"], r.access)])
    error_message = "Each kubernetes_roles entry needs access = \"reader\" or \"rotator\"."
  }

  validation {
    condition = alltrue([
      for r in values(var.kubernetes_roles) :
      length(r.bound_service_account_names) > 0 && length(r.bound_service_account_namespaces) > 0 &&
      !anytrue([for n in concat(r.bound_service_account_names, r.bound_service_account_namespaces) : strcontains(n, "*")])
    ])
    error_message = "kubernetes_roles must name their service accounts and namespaces: no empty lists, no \"*\"."
  }

  validation {
    condition     = alltrue([for r in values(var.kubernetes_roles) : r.token_ttl > 0 && r.token_max_ttl >= r.token_ttl])
    error_message = "kubernetes_roles: token_ttl must be > 0 and token_max_ttl >= token_ttl."
  }
}

variable "source_auth" {
  description = "Auth method put in the source_url output's auth= parameter: token, approle or kubernetes."
  type        = string
  default     = "approle"
  nullable    = false

  validation {
    condition     = contains(["token", "approle", "kubernetes"], var.source_auth)
    error_message = "source_auth must be token, approle or kubernetes (DESIGN.md, Sources)."
  }
}

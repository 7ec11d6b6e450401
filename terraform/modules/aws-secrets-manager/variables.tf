variable "create" {
  description = "Whether to create any resource at all (false turns the module into a no-op)."
  type        = bool
  default     = true
  nullable    = false
}

variable "tags" {
  description = "Tags for the secret and the KMS key."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Secret
################################################################################

variable "name" {
  description = "Name of the secret that holds the r2jwt keyset document, e.g. \"r2/jwt\". Services use it in R2JWT_SOURCE=aws-sm://NAME?region=REGION."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]{1,512}$", var.name))
    error_message = "name may contain only letters, digits and /_+=.@- (1 to 512 characters)."
  }

  validation {
    # Secrets Manager appends "-" and six random characters to the ARN; a name that already
    # ends like that makes partial-ARN lookups ambiguous.
    condition     = !can(regex("-[A-Za-z0-9]{6}$", var.name))
    error_message = "name must not end with a hyphen followed by six characters (it looks like an ARN suffix)."
  }

  validation {
    condition     = !startswith(var.name, "arn:") && !startswith(var.name, "aws-sm://")
    error_message = "name is the secret's name, not an ARN or an aws-sm:// URL."
  }
}

variable "description" {
  description = "Description of the secret."
  type        = string
  default     = "R2 JWT signing keyset (r2jwt keyset document); written by r2jwt keys add, read by services."
  nullable    = false
}

variable "recovery_window_in_days" {
  description = "Days Secrets Manager keeps a deleted secret recoverable: 0 (delete at once) or 7 to 30."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.recovery_window_in_days == 0 || (var.recovery_window_in_days >= 7 && var.recovery_window_in_days <= 30)
    error_message = "recovery_window_in_days must be 0 or between 7 and 30."
  }
}

variable "replicas" {
  description = "Regions to replicate the secret to. kms_key_arn is a customer-managed key in that region (null: the region's aws/secretsmanager key)."
  type = list(object({
    region      = string
    kms_key_arn = optional(string)
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for r in var.replicas : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", r.region))])
    error_message = "Each replica region must be a region code such as eu-west-1."
  }

  validation {
    condition     = length(distinct([for r in var.replicas : r.region])) == length(var.replicas)
    error_message = "Replica regions must be unique."
  }

  validation {
    condition = alltrue([
      for r in var.replicas : r.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:${r.region}:[0-9]{12}:key/[A-Za-z0-9-]+$", r.kms_key_arn))
    ])
    error_message = "A replica's kms_key_arn must be a KMS key ARN (not an alias) in that replica's region."
  }
}

################################################################################
# KMS key
################################################################################

variable "kms_key_arn" {
  description = "ARN of an existing customer-managed KMS key to encrypt the secret with. null: the module creates a key."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not a key id or an alias."
  }
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period, in days (7 to 30), before a destroyed KMS key is deleted."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "kms_key_deletion_window_in_days must be between 7 and 30."
  }
}

variable "kms_key_rotation_period_in_days" {
  description = "Days between automatic rotations of the created KMS key's material (90 to 2560)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = var.kms_key_rotation_period_in_days >= 90 && var.kms_key_rotation_period_in_days <= 2560
    error_message = "kms_key_rotation_period_in_days must be between 90 and 2560."
  }
}

variable "key_administrators" {
  description = "IAM principal ARNs that may administer the created KMS key (listed actions only, never use). Empty: this account's root, i.e. IAM policies in this account decide."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.key_administrators : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", a))])
    error_message = "key_administrators must be IAM role, user or account-root ARNs (no wildcards)."
  }
}

variable "key_users" {
  description = "IAM principal ARNs that may use the created KMS key for Secrets Manager (kms:Decrypt, kms:GenerateDataKey via secretsmanager only). Principals in this account can instead get the module's reader or rotator policy."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.key_users : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", a))])
    error_message = "key_users must be IAM role, user or account-root ARNs (no wildcards)."
  }
}

################################################################################
# Initial value (optional; the normal path is `r2jwt keys add` after apply)
################################################################################

variable "create_initial_version" {
  description = "Write initial_keyset as the first secret version through the write-only secret_string_wo. Leave false to seed with `r2jwt keys add` instead."
  type        = bool
  default     = false
  nullable    = false
}

variable "initial_keyset" {
  description = "Initial r2jwt keyset document (JSON: {\"keys\": [...]} or {\"kid\": ..., \"secret\": ...}). Ephemeral: never stored in state or plan. Only used when create_initial_version is true."
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
  description = "Version number for secret_string_wo; changing it writes initial_keyset again (and moves AWSCURRENT to it)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.initial_keyset_version >= 1 && floor(var.initial_keyset_version) == var.initial_keyset_version
    error_message = "initial_keyset_version must be a whole number >= 1."
  }
}

################################################################################
# IAM
################################################################################

variable "reader_role_names" {
  description = "Names of IAM roles that get the reader policy inline (services that sign tokens)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for n in var.reader_role_names : can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", n))])
    error_message = "reader_role_names must be role names (not ARNs, no path)."
  }
}

variable "rotator_role_names" {
  description = "Names of IAM roles that get the rotator policy inline (the pipeline or people that run `r2jwt keys add/retire/remove`)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for n in var.rotator_role_names : can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", n))])
    error_message = "rotator_role_names must be role names (not ARNs, no path)."
  }

  validation {
    condition     = length(setintersection(toset(var.rotator_role_names), toset(var.reader_role_names))) == 0
    error_message = "A role must not be both a reader and a rotator: services get the reader policy only."
  }
}

variable "iam_policy_name" {
  description = "Base name of the inline role policies (\"-reader\" / \"-rotator\" is appended). null: \"r2jwt-\" plus the secret name with / replaced."
  type        = string
  default     = null

  validation {
    condition     = var.iam_policy_name == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,100}$", var.iam_policy_name))
    error_message = "iam_policy_name may contain only letters, digits and +=,.@_- (1 to 100 characters)."
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  create_kms_key = var.create && var.kms_key_arn == null

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  root_arn   = "arn:${local.partition}:iam::${local.account_id}:root"

  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : try(aws_kms_key.this[0].arn, null)

  # Replicas share the primary's name and random suffix; only the region part of the ARN differs.
  secret_arn  = try(aws_secretsmanager_secret.this[0].arn, "")
  secret_arns = concat([local.secret_arn], [for r in var.replicas : replace(local.secret_arn, ":${local.region}:", ":${r.region}:")])

  # Keys the secret's versions are encrypted with, in the primary and replica regions. A replica on
  # its region's aws/secretsmanager key needs no IAM permission, so it is left out.
  kms_key_arns = compact(concat([local.kms_key_arn], [for r in var.replicas : r.kms_key_arn]))
  via_services = [for region in distinct(concat([local.region], [for r in var.replicas : r.region])) : "secretsmanager.${region}.amazonaws.com"]

  key_administrators = length(var.key_administrators) > 0 ? var.key_administrators : [local.root_arn]

  # Inline policy names: at most 128 characters, so the default keeps 100 of the secret name.
  iam_policy_name = coalesce(var.iam_policy_name, "r2jwt-${substr(replace(var.name, "/[^A-Za-z0-9+=,.@_-]/", "-"), 0, 100)}")
}

################################################################################
# KMS key
################################################################################

# A key policy's "Resource": "*" means "this key"; the checks below read it as "every resource".
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:Key policy: Resource "*" is this key only; admin actions are listed and limited to key_administrators.
  #checkov:skip=CKV_AWS_111:Key policy: Resource "*" is this key only; every statement names its principals.
  #checkov:skip=CKV_AWS_356:Key policy: Resource "*" is the only valid resource in a key policy and means this key.
  count = local.create_kms_key ? 1 : 0

  statement {
    sid    = "KeyAdministration"
    effect = "Allow"

    principals {
      type        = "AWS"
      identifiers = local.key_administrators
    }

    # Administration only: no Decrypt/Encrypt/GenerateDataKey here, and no kms:* even for root.
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListKeyRotations",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:RevokeGrant",
      "kms:RotateKeyOnDemand",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]
  }

  # Lets IAM policies in this account (the module's reader and rotator policies) grant use of the
  # key, but only through Secrets Manager in this account.
  statement {
    sid    = "AccountIamPoliciesViaSecretsManager"
    effect = "Allow"

    principals {
      type        = "AWS"
      identifiers = [local.root_arn]
    }

    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.via_services
    }

    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  dynamic "statement" {
    for_each = length(var.key_users) > 0 ? [var.key_users] : []

    content {
      sid    = "KeyUsersViaSecretsManager"
      effect = "Allow"

      principals {
        type        = "AWS"
        identifiers = statement.value
      }

      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = ["*"]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = local.via_services
      }
    }
  }
}

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "Encrypts the r2jwt keyset secret ${var.name}"
  key_usage               = "ENCRYPT_DECRYPT"
  is_enabled              = true
  enable_key_rotation     = true
  rotation_period_in_days = var.kms_key_rotation_period_in_days
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.key[0].json

  tags = var.tags
}

################################################################################
# Secret
################################################################################

resource "aws_secretsmanager_secret" "this" {
  #checkov:skip=CKV2_AWS_57:R2 issues the credentials, not AWS: rotation is `r2jwt keys add` run by the rotator role, not a Lambda.
  count = var.create ? 1 : 0

  name                    = var.name
  description             = var.description
  kms_key_id              = local.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days

  dynamic "replica" {
    for_each = var.replicas

    content {
      region     = replica.value.region
      kms_key_id = replica.value.kms_key_arn
    }
  }

  tags = var.tags
}

# Optional seed. The value goes through the write-only argument from an ephemeral variable, so it
# is in neither state nor plan. No version_stages: AWS puts AWSCURRENT on it at creation, and later
# moves by r2jwt's writer are not drift.
resource "aws_secretsmanager_secret_version" "this" {
  count = var.create && var.create_initial_version ? 1 : 0

  secret_id                = aws_secretsmanager_secret.this[0].id
  secret_string_wo         = var.initial_keyset
  secret_string_wo_version = var.initial_keyset_version
}

################################################################################
# IAM: reader (services) and rotator (r2jwt keys add/retire/remove)
################################################################################

data "aws_iam_policy_document" "reader" {
  count = var.create ? 1 : 0

  statement {
    sid       = "ReadKeyset"
    effect    = "Allow"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    resources = local.secret_arns
  }

  statement {
    sid       = "DecryptKeysetViaSecretsManager"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = local.kms_key_arns

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.via_services
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:SecretARN"
      values   = local.secret_arns
    }
  }
}

# r2jwt's writer reads AWSCURRENT (GetSecretValue, DescribeSecret for the version ids), puts the
# new document with PutSecretValue under its own R2JWT_PENDING label, then moves AWSCURRENT to it
# and removes R2JWT_PENDING with UpdateSecretVersionStage. Nothing more.
data "aws_iam_policy_document" "rotator" {
  count = var.create ? 1 : 0

  statement {
    sid       = "ReadKeyset"
    effect    = "Allow"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    resources = local.secret_arns
  }

  statement {
    sid       = "WriteKeysetVersion"
    effect    = "Allow"
    actions   = ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]
    resources = local.secret_arns
  }

  statement {
    sid       = "DecryptKeysetViaSecretsManager"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = local.kms_key_arns

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.via_services
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:SecretARN"
      values   = local.secret_arns
    }
  }

  statement {
    sid       = "EncryptKeysetViaSecretsManager"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey"]
    resources = local.kms_key_arns

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.via_services
    }

    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:SecretARN"
      values   = local.secret_arns
    }
  }
}

resource "aws_iam_role_policy" "reader" {
  for_each = var.create ? toset(var.reader_role_names) : toset([])

  name   = "${local.iam_policy_name}-reader"
  role   = each.value
  policy = data.aws_iam_policy_document.reader[0].json
}

resource "aws_iam_role_policy" "rotator" {
  for_each = var.create ? toset(var.rotator_role_names) : toset([])

  name   = "${local.iam_policy_name}-rotator"
  role   = each.value
  policy = data.aws_iam_policy_document.rotator[0].json
}

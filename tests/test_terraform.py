"""Static checks of terraform/: no terraform binary is needed.

Every .tf file is parsed with python-hcl2 and the assertions read the parsed blocks, so a policy
that moves, grows an action or loses a condition fails here, not only in review. The last test runs
checkov from the tool venv `.venv-checkov` that the Makefile builds, when it exists.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

REPO = Path(__file__).resolve().parent.parent
TERRAFORM = REPO / "terraform"
AWS_MODULE = TERRAFORM / "modules" / "aws-secrets-manager"
VAULT_MODULE = TERRAFORM / "modules" / "vault"
MODULES = (AWS_MODULE, VAULT_MODULE)
EXAMPLES = (TERRAFORM / "examples" / "aws", TERRAFORM / "examples" / "vault")
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md")

TF_FILES = sorted(TERRAFORM.rglob("*.tf"))

# Strip the quotes python-hcl2 8 keeps on strings and labels, and drop its __is_block__ markers.
# Comments only where a test asks for them (checkov skips), so they never pose as arguments.
_OPTIONS = {
    with_comments: hcl2.SerializationOptions(
        strip_string_quotes=True,
        explicit_blocks=False,
        preserve_heredocs=False,
        with_comments=with_comments,
    )
    for with_comments in (False, True)
}


@cache
def parse(path: Path, *, with_comments: bool = False) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return hcl2.load(f, serialization_options=_OPTIONS[with_comments])


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def module_blocks(module: Path, kind: str) -> dict[str, Any]:
    """All top-level blocks of one kind (variable, output, locals...) in a module, by name."""
    found: dict[str, Any] = {}
    for path in sorted(module.glob("*.tf")):
        for entry in parse(path).get(kind, []):
            for name, body in entry.items():
                assert name not in found, f"{kind} {name} declared twice in {rel(module)}"
                found[name] = body
    return found


def typed_blocks(module: Path, kind: str, type_name: str) -> dict[str, Any]:
    """resource/data blocks of one type in a module, by name."""
    found: dict[str, Any] = {}
    for path in sorted(module.glob("*.tf")):
        for entry in parse(path).get(kind, []):
            for body in entry.get(type_name, {}).items():
                found[body[0]] = body[1]
    return found


def all_typed_blocks(kind: str, type_name: str) -> Iterator[tuple[Path, str, Any]]:
    for path in TF_FILES:
        for entry in parse(path).get(kind, []):
            for name, body in entry.get(type_name, {}).items():
                yield path, name, body


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair at any depth of a parsed file."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Statements of an aws_iam_policy_document, static and dynamic."""
    found = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        for content in dynamic.get("statement", {}).get("content", []):
            found.append(content)
    return found


def actions_of(document: dict[str, Any]) -> set[str]:
    return {a for s in statements(document) for a in s.get("actions", [])}


def by_sid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["sid"]: s for s in statements(document)}


def conditions(statement: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    return {c["variable"]: (c["test"], c["values"]) for c in statement.get("condition", [])}


def unwrap(expr: Any) -> str:
    """'${foo}' -> 'foo' for a whole-value interpolation; other values as they are."""
    assert isinstance(expr, str), expr
    return expr[2:-1] if expr.startswith("${") and expr.endswith("}") else expr


# --------------------------------------------------------------------------------------------------
# Layout and parsing
# --------------------------------------------------------------------------------------------------


def test_layout() -> None:
    for module in MODULES:
        for name in MODULE_FILES:
            assert (module / name).is_file(), f"missing {rel(module / name)}"
    for example in EXAMPLES:
        for name in ("main.tf", "outputs.tf", "versions.tf"):
            assert (example / name).is_file(), f"missing {rel(example / name)}"
    assert len(TF_FILES) >= 16


@pytest.mark.parametrize("path", TF_FILES, ids=rel)
def test_every_tf_file_parses(path: Path) -> None:
    parsed = parse(path)
    assert parsed, f"{rel(path)} parsed to nothing"


# --------------------------------------------------------------------------------------------------
# Variables
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", TF_FILES, ids=rel)
def test_every_variable_has_description_and_type(path: Path) -> None:
    for entry in parse(path).get("variable", []):
        for name, body in entry.items():
            assert str(body.get("description", "")).strip(), (
                f"{rel(path)}: variable {name} has no description"
            )
            assert "type" in body, f"{rel(path)}: variable {name} has no type"


@pytest.mark.parametrize("module", MODULES, ids=rel)
def test_create_and_tags_come_first(module: Path) -> None:
    entries = parse(module / "variables.tf")["variable"]
    names = [name for entry in entries for name in entry]
    assert names[:2] == ["create", "tags"]
    create = entries[0]["create"]
    assert unwrap(create["type"]) == "bool" and create["default"] is True


# Inputs where a wrong value is likely: each must carry a validation block.
VALIDATED = {
    AWS_MODULE: {
        "name",
        "recovery_window_in_days",
        "replicas",
        "kms_key_arn",
        "kms_key_deletion_window_in_days",
        "kms_key_rotation_period_in_days",
        "key_administrators",
        "key_users",
        "initial_keyset",
        "initial_keyset_version",
        "reader_role_names",
        "rotator_role_names",
        "iam_policy_name",
    },
    VAULT_MODULE: {
        "namespace",
        "mount_path",
        "max_versions",
        "delete_version_after",
        "secret_path",
        "initial_keyset",
        "initial_keyset_version",
        "reader_policy_name",
        "rotator_policy_name",
        "approle_backend",
        "approle_roles",
        "kubernetes_backend",
        "kubernetes_roles",
        "source_auth",
    },
}


@pytest.mark.parametrize("module", MODULES, ids=rel)
def test_likely_mistakes_are_validated(module: Path) -> None:
    variables = module_blocks(module, "variable")
    for name in sorted(VALIDATED[module]):
        assert name in variables, f"{rel(module)}: no variable {name}"
        validations = variables[name].get("validation", [])
        assert validations, f"{rel(module)}: variable {name} has no validation block"
        for v in validations:
            assert "var." + name in v["condition"], f"{name}: validation does not test var.{name}"
            assert v["error_message"].strip()


@pytest.mark.parametrize("module", MODULES, ids=rel)
def test_initial_value_variable_is_ephemeral(module: Path) -> None:
    initial = module_blocks(module, "variable")["initial_keyset"]
    assert initial["ephemeral"] is True
    assert initial["sensitive"] is True
    assert initial["default"] is None


# --------------------------------------------------------------------------------------------------
# Secrets never in state
# --------------------------------------------------------------------------------------------------

STATE_BACKED = {"secret_string", "secret_binary", "data_json"}
STATE_BACKED_TEXT = re.compile(r"^\s*(secret_string|secret_binary|data_json)\s*=", re.MULTILINE)


@pytest.mark.parametrize("path", TF_FILES, ids=rel)
def test_no_state_backed_secret_argument(path: Path) -> None:
    keys = {key for key, _ in walk(parse(path))}
    assert not keys & STATE_BACKED, (
        f"{rel(path)} sets {keys & STATE_BACKED}: the value would land in state"
    )
    # Also in the raw text, so a heredoc or a comment-free template cannot hide one.
    assert not STATE_BACKED_TEXT.search(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("module", "type_name", "argument"),
    [
        (AWS_MODULE, "aws_secretsmanager_secret_version", "secret_string_wo"),
        (VAULT_MODULE, "vault_kv_secret_v2", "data_json_wo"),
    ],
    ids=["aws", "vault"],
)
def test_initial_value_only_write_only_from_ephemeral_variable(
    module: Path, type_name: str, argument: str
) -> None:
    resources = typed_blocks(module, "resource", type_name)
    assert list(resources) == ["this"]
    body = resources["this"]
    assert unwrap(body[argument]) == "var.initial_keyset"
    assert unwrap(body[argument + "_version"]) == "var.initial_keyset_version"
    assert unwrap(body["count"]) == "var.create && var.create_initial_version ? 1 : 0"
    assert module_blocks(module, "variable")["create_initial_version"]["default"] is False


def test_aws_seed_leaves_staging_labels_to_aws() -> None:
    # version_stages on the seed would pull AWSCURRENT back on every apply after r2jwt moved it.
    body = typed_blocks(AWS_MODULE, "resource", "aws_secretsmanager_secret_version")["this"]
    assert "version_stages" not in body


def test_vault_seed_is_create_only_and_never_read_back() -> None:
    body = typed_blocks(VAULT_MODULE, "resource", "vault_kv_secret_v2")["this"]
    assert body["cas"] == 0
    assert body["disable_read"] is True
    assert body.get("delete_all_versions", False) is False
    metadata = body["custom_metadata"][0]
    assert metadata["cas_required"] is True
    # Destroying it would soft-delete the latest version, i.e. the live keyset.
    assert body["lifecycle"][0]["prevent_destroy"] is True


# --------------------------------------------------------------------------------------------------
# AWS IAM
# --------------------------------------------------------------------------------------------------

ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def test_no_wildcard_action_anywhere() -> None:
    documents = list(all_typed_blocks("data", "aws_iam_policy_document"))
    assert len(documents) >= 3
    for path, name, document in documents:
        for statement in statements(document):
            assert "not_actions" not in statement, f"{rel(path)}: {name} uses not_actions"
            assert "not_resources" not in statement, f"{rel(path)}: {name} uses not_resources"
            assert statement.get("effect", "Allow") == "Allow", f"{rel(path)}: {name}"
            for action in statement["actions"]:
                assert ACTION.match(action), (
                    f"{rel(path)}: {name} has a wildcard or odd action {action!r}"
                )
            for principals in statement.get("principals", []):
                assert "*" not in principals["identifiers"], f"{rel(path)}: {name}: principal *"
            # "*" as a resource only in the key policy, where it means "this key".
            if name != "key":
                assert "*" not in statement["resources"], f"{rel(path)}: {name}: resource *"
    # Catch a policy written as JSON or jsonencode(), where the parsed walk above cannot see it.
    for path in TF_FILES:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r'"(secretsmanager|kms|iam|[a-z0-9-]+):[A-Za-z]*\*"', text), rel(path)
        assert not re.search(r'"\*"\s*[,\]]', text.replace('resources = ["*"]', "")), rel(path)
        assert "jsonencode" not in text or "Statement" not in text, (
            f"{rel(path)}: policy inside jsonencode"
        )


def aws_documents() -> dict[str, Any]:
    return typed_blocks(AWS_MODULE, "data", "aws_iam_policy_document")


VIA_SECRETS_MANAGER = ("StringEquals", "${local.via_services}")


def test_reader_policy_reads_this_secret_only() -> None:
    reader = aws_documents()["reader"]
    assert unwrap(reader["count"]) == "var.create ? 1 : 0"
    assert actions_of(reader) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "kms:Decrypt",
    }
    sids = by_sid(reader)
    assert set(sids) == {"ReadKeyset", "DecryptKeysetViaSecretsManager"}
    assert sids["ReadKeyset"]["resources"] == "${local.secret_arns}"
    kms = sids["DecryptKeysetViaSecretsManager"]
    assert kms["resources"] == "${local.kms_key_arns}"
    assert conditions(kms)["kms:ViaService"] == VIA_SECRETS_MANAGER
    assert conditions(kms)["kms:EncryptionContext:SecretARN"] == (
        "StringEquals",
        "${local.secret_arns}",
    )


def test_reader_policy_allows_no_write_action() -> None:
    for action in actions_of(aws_documents()["reader"]):
        _service, verb = action.split(":")
        assert verb.startswith(("Get", "Describe", "List")) or action == "kms:Decrypt", action


def test_secret_arns_are_this_secret_and_its_replicas() -> None:
    locals_ = {k: v for entry in parse(AWS_MODULE / "main.tf")["locals"] for k, v in entry.items()}
    assert unwrap(locals_["secret_arn"]) == 'try(aws_secretsmanager_secret.this[0].arn, "")'
    assert unwrap(locals_["secret_arns"]).startswith(
        "concat([local.secret_arn], [for r in var.replicas : replace(local.secret_arn"
    )
    assert "secretsmanager.${region}.amazonaws.com" in locals_["via_services"]


def test_rotator_is_reader_plus_exactly_the_write_actions() -> None:
    documents = aws_documents()
    reader, rotator = documents["reader"], documents["rotator"]
    added = actions_of(rotator) - actions_of(reader)
    assert actions_of(reader) <= actions_of(rotator)
    assert added == {
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
        "kms:GenerateDataKey",
    }
    sids = by_sid(rotator)
    assert set(sids) == {
        "ReadKeyset",
        "WriteKeysetVersion",
        "DecryptKeysetViaSecretsManager",
        "EncryptKeysetViaSecretsManager",
    }
    for sid in ("ReadKeyset", "DecryptKeysetViaSecretsManager"):
        assert sids[sid] == by_sid(reader)[sid], f"rotator's {sid} differs from the reader's"
    assert sids["WriteKeysetVersion"]["resources"] == "${local.secret_arns}"
    for sid in ("DecryptKeysetViaSecretsManager", "EncryptKeysetViaSecretsManager"):
        assert conditions(sids[sid])["kms:ViaService"] == VIA_SECRETS_MANAGER


def test_every_statement_has_a_fixed_unique_sid() -> None:
    for path, name, document in all_typed_blocks("data", "aws_iam_policy_document"):
        sids = [s.get("sid") for s in statements(document)]
        assert all(isinstance(s, str) and re.fullmatch(r"[A-Za-z0-9]+", s) for s in sids), (
            rel(path),
            name,
            sids,
        )
        assert len(set(sids)) == len(sids), (rel(path), name, sids)


def test_role_attachments_use_the_module_documents() -> None:
    policies = typed_blocks(AWS_MODULE, "resource", "aws_iam_role_policy")
    assert set(policies) == {"reader", "rotator"}
    for kind, body in policies.items():
        assert unwrap(body["policy"]) == f"data.aws_iam_policy_document.{kind}[0].json"
        assert unwrap(body["for_each"]) == f"var.create ? toset(var.{kind}_role_names) : toset([])"


def test_kms_key_policy_names_administrators_and_users_without_kms_star() -> None:
    key_policy = aws_documents()["key"]
    sids = by_sid(key_policy)
    assert set(sids) == {
        "KeyAdministration",
        "AccountIamPoliciesViaSecretsManager",
        "KeyUsersViaSecretsManager",
    }
    admin = sids["KeyAdministration"]
    assert admin["principals"][0]["identifiers"] == "${local.key_administrators}"
    # Administrators administer; they do not use the key.
    assert not {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom"} & set(
        admin["actions"]
    )
    assert "kms:PutKeyPolicy" in admin["actions"] and "kms:ScheduleKeyDeletion" in admin["actions"]
    users = sids["KeyUsersViaSecretsManager"]
    assert users["principals"][0]["identifiers"] == "${statement.value}"
    dynamic = key_policy["dynamic"][0]["statement"]
    assert dynamic["for_each"] == "${length(var.key_users) > 0 ? [var.key_users] : []}"
    for sid in ("AccountIamPoliciesViaSecretsManager", "KeyUsersViaSecretsManager"):
        assert set(sids[sid]["actions"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
        assert conditions(sids[sid])["kms:ViaService"] == VIA_SECRETS_MANAGER
    assert conditions(sids["AccountIamPoliciesViaSecretsManager"])["kms:CallerAccount"] == (
        "StringEquals",
        ["${local.account_id}"],
    )


def test_kms_key_rotates_and_uses_the_key_policy() -> None:
    key = typed_blocks(AWS_MODULE, "resource", "aws_kms_key")["this"]
    assert key["enable_key_rotation"] is True
    assert unwrap(key["policy"]) == "data.aws_iam_policy_document.key[0].json"
    assert unwrap(key["count"]) == "local.create_kms_key ? 1 : 0"


def test_secret_is_kms_encrypted_with_recovery_window_replicas_and_tags() -> None:
    secret = typed_blocks(AWS_MODULE, "resource", "aws_secretsmanager_secret")["this"]
    assert unwrap(secret["count"]) == "var.create ? 1 : 0"
    assert unwrap(secret["kms_key_id"]) == "local.kms_key_arn"
    assert unwrap(secret["recovery_window_in_days"]) == "var.recovery_window_in_days"
    assert unwrap(secret["tags"]) == "var.tags"
    assert unwrap(secret["dynamic"][0]["replica"]["for_each"]) == "var.replicas"


# --------------------------------------------------------------------------------------------------
# Vault policies and roles
# --------------------------------------------------------------------------------------------------


def vault_rules(name: str) -> dict[str, list[str]]:
    document = typed_blocks(VAULT_MODULE, "data", "vault_policy_document")[name]
    rules = {rule["path"]: rule["capabilities"] for rule in document["rule"]}
    assert len(rules) == len(document["rule"]), "a path appears twice"
    return rules


def test_vault_reader_policy_grants_only_read_on_the_data_path() -> None:
    assert vault_rules("reader") == {"${local.data_path}": ["read"]}


def test_vault_rotator_policy() -> None:
    rules = vault_rules("rotator")
    assert set(rules) == {"${local.data_path}", "${local.metadata_path}"}
    assert sorted(rules["${local.data_path}"]) == ["create", "read", "update"]
    assert rules["${local.metadata_path}"] == ["read"]


def test_vault_policy_paths_are_the_kv2_paths_without_globs() -> None:
    locals_ = {
        k: v for entry in parse(VAULT_MODULE / "main.tf")["locals"] for k, v in entry.items()
    }
    assert locals_["data_path"] == "${local.mount_path}/data/${var.secret_path}"
    assert locals_["metadata_path"] == "${local.mount_path}/metadata/${var.secret_path}"
    for kind in ("reader", "rotator"):
        for path in vault_rules(kind):
            assert "*" not in path and "+" not in path


def test_vault_policies_use_the_documents() -> None:
    policies = typed_blocks(VAULT_MODULE, "resource", "vault_policy")
    assert set(policies) == {"reader", "rotator"}
    for kind, body in policies.items():
        assert unwrap(body["policy"]) == f"data.vault_policy_document.{kind}[0].hcl"


def test_vault_mount_requires_cas_and_limits_versions() -> None:
    mount = typed_blocks(VAULT_MODULE, "resource", "vault_mount")["this"]
    assert mount["type"] == "kv" and mount["options"] == {"version": "2"}
    config = typed_blocks(VAULT_MODULE, "resource", "vault_kv_secret_backend_v2")["this"]
    assert config["cas_required"] is True
    assert unwrap(config["max_versions"]) == "var.max_versions"


def test_vault_auth_roles_are_bound_to_the_module_policies() -> None:
    locals_ = {
        k: v for entry in parse(VAULT_MODULE / "main.tf")["locals"] for k, v in entry.items()
    }
    assert locals_["policy_names"] == {
        "reader": "${try(vault_policy.reader[0].name, null)}",
        "rotator": "${try(vault_policy.rotator[0].name, null)}",
    }
    for type_name in ("vault_approle_auth_backend_role", "vault_kubernetes_auth_backend_role"):
        role = typed_blocks(VAULT_MODULE, "resource", type_name)["this"]
        assert role["token_policies"] == ["${local.policy_names[each.value.access]}"], type_name
    kubernetes = typed_blocks(VAULT_MODULE, "resource", "vault_kubernetes_auth_backend_role")[
        "this"
    ]
    assert (
        unwrap(kubernetes["bound_service_account_names"])
        == "each.value.bound_service_account_names"
    )


# --------------------------------------------------------------------------------------------------
# Module conventions and outputs
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=rel)
def test_resources_are_gated_by_create(module: Path) -> None:
    for path in sorted(module.glob("*.tf")):
        for entry in parse(path).get("resource", []):
            for type_name, bodies in entry.items():
                for name, body in bodies.items():
                    gate = unwrap(body.get("count", body.get("for_each", "")))
                    assert "var.create" in gate or "local.create_kms_key" in gate, (
                        f"{type_name}.{name}: {gate!r}"
                    )


@pytest.mark.parametrize("module", MODULES, ids=rel)
def test_outputs_are_described_and_null_safe(module: Path) -> None:
    outputs = module_blocks(module, "output")
    assert outputs
    for name, body in outputs.items():
        assert body["description"].strip(), name
        value = unwrap(body["value"]) if isinstance(body["value"], str) else ""
        # try(), a create guard, or a for over a for_each resource (empty, never an error).
        assert value.startswith(("try(", "var.create ?", "{for ")), (
            f"output {name} is not null-safe: {value!r}"
        )
    if module == VAULT_MODULE:
        assert outputs["approle_role_ids"]["sensitive"] is True


def render(template: str) -> str:
    """Substitute every ${...} in a string template with a plausible value."""
    samples = {
        "aws_secretsmanager_secret.this[0].name": "r2/jwt",
        "local.region": "eu-west-1",
        "local.mount_path": "r2jwt",
        "var.secret_path": "payments/r2-jwt",
        "var.source_auth": "approle",
        "auth": "kubernetes",
        'replace(local.mount_path, "/", "%2F")': "r2jwt",
        "var.approle_backend": "approle",
        "var.kubernetes_backend": "kubernetes",
    }

    def sub(match: re.Match[str]) -> str:
        assert match.group(1) in samples, f"unexpected interpolation {match.group(0)}"
        return samples[match.group(1)]

    return re.sub(r"\$\{([^}]+)\}", sub, template)


def url_templates(expression: str) -> list[str]:
    return re.findall(r'"((?:aws-sm|vault)://[^"]*)"', expression)


def test_aws_source_url_output_has_the_design_format() -> None:
    outputs = module_blocks(AWS_MODULE, "output")
    for name in ("source_url", "service_env"):
        templates = url_templates(json.dumps(outputs[name]["value"]).replace('\\"', '"'))
        assert len(templates) == 1, name
        assert re.fullmatch(
            r"aws-sm://[^?]+\?region=[a-z]{2}(-[a-z]+)+-\d", render(templates[0])
        ), templates[0]
    assert "AWS_REGION = local.region" in outputs["service_env"]["value"]


def test_vault_source_url_outputs_have_the_design_format() -> None:
    # The URLs are built once, in locals; tests/test_sources_vault.py opens them as VaultSources.
    pattern = (
        r"vault://[^/?]+/[^?]+\?kv=2&auth="
        r"(token|approle&auth_mount=[^&]+|kubernetes&auth_mount=[^&]+(&role=[^&]+)?)"
    )
    locals_ = {
        k: v for entry in parse(VAULT_MODULE / "main.tf")["locals"] for k, v in entry.items()
    }
    assert set(locals_["auth_query"]) == {"token", "approle", "kubernetes"}
    base = render(locals_["url_base"])
    for auth, query in locals_["auth_query"].items():
        assert re.fullmatch(pattern, f"{base}&{render(query)}"), auth
    assert re.fullmatch(pattern, f"{base}&{render(locals_['auth_query']['kubernetes'])}&role=r")
    assert "${local.url_base}&${query}" in locals_["source_urls"]
    assert "&role=${name}" in locals_["kubernetes_source_urls"]
    outputs = module_blocks(VAULT_MODULE, "output")
    assert (
        unwrap(outputs["source_url"]["value"]) == "try(var.create ? local.source_url : null, null)"
    )
    assert "R2JWT_SOURCE = local.source_url" in outputs["service_env"]["value"]


# --------------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------------


def version_bounds(constraint: str) -> tuple[tuple[int, int, int], tuple[int, int, int] | None]:
    """Lower and upper bound of a ">= A, < B" or "~> A.B" constraint, as (major, minor, patch)."""

    def triple(number: str) -> tuple[int, int, int]:
        parts = [int(n) for n in number.split(".")] + [0, 0]
        return parts[0], parts[1], parts[2]

    lower = (0, 0, 0)
    upper: tuple[int, int, int] | None = None
    for part in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<|~>)\s*(\d+(?:\.\d+){0,2})\s*", part)
        assert match, f"unsupported constraint {constraint!r}"
        op, number = match.groups()
        if op == ">=":
            lower = triple(number)
        elif op == "<":
            upper = triple(number)
        else:  # ~> 6.0 means >= 6.0, < 7.0
            lower = triple(number)
            upper = (lower[0] + 1, 0, 0)
    return lower, upper


PROVIDER_RANGES = {"aws": ((6, 0, 0), (7, 0, 0)), "vault": ((5, 0, 0), (6, 0, 0))}


@pytest.mark.parametrize("directory", MODULES + EXAMPLES, ids=rel)
def test_versions_pin_terraform_and_providers(directory: Path) -> None:
    (terraform,) = parse(directory / "versions.tf")["terraform"]
    lower, _ = version_bounds(terraform["required_version"])
    assert lower >= (1, 11, 0), "write-only arguments and ephemeral variables need Terraform 1.11"
    providers = terraform["required_providers"][0]
    assert providers
    for name, spec in providers.items():
        assert spec["source"] == f"hashicorp/{name}"
        lower, upper = version_bounds(spec["version"])
        want_lower, want_upper = PROVIDER_RANGES[name]
        assert lower >= want_lower, (
            f"{name} {spec['version']}: below the first version with the arguments used"
        )
        assert upper is not None and upper <= want_upper, (
            f"{name} {spec['version']}: no upper bound on the major"
        )


# --------------------------------------------------------------------------------------------------
# Checkov
# --------------------------------------------------------------------------------------------------

SKIP_COMMENT = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def test_checkov_skips_are_inline_on_a_resource_with_a_reason() -> None:
    for name in (".checkov.yml", ".checkov.yaml"):
        for config in (REPO / name, TERRAFORM / name):
            assert not config.exists() or "skip" not in config.read_text(), (
                f"global skip in {rel(config)}"
            )
    seen = 0
    for path in TF_FILES:
        text = path.read_text(encoding="utf-8")
        for match in SKIP_COMMENT.finditer(text):
            seen += 1
            assert re.fullmatch(r"CKV2?_AWS_\d+", match.group(1)), match.group(0)
            assert match.group(2) and len(match.group(2).strip()) > 20, (
                f"{rel(path)}: skip without a reason"
            )
        # Each skip comment sits inside a resource or data block (parsed as that block's comment).
        inside = sum(
            1
            for kind in ("resource", "data")
            for entry in parse(path, with_comments=True).get(kind, [])
            for bodies in entry.values()
            for body in bodies.values()
            for comment in body.get("__comments__", [])
            if "checkov:skip" in comment["value"]
        )
        assert inside == len(SKIP_COMMENT.findall(text)), (
            f"{rel(path)}: a checkov skip outside a block"
        )
    assert seen == 4, "a skip was added or removed: update this count and the reasons in the report"


CHECKOV = Path(os.environ.get("R2JWT_CHECKOV", REPO / ".venv-checkov" / "bin" / "checkov"))


# `make test` sets R2JWT_CHECKOV, and then a missing checkov is a failure, not a skip.
@pytest.mark.skipif(
    "R2JWT_CHECKOV" not in os.environ and not CHECKOV.exists(),
    reason="no checkov tool venv (make checkov builds .venv-checkov)",
)
def test_checkov_finds_nothing() -> None:
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = reports[0]["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}"
        for r in reports
        for c in r["results"]["failed_checks"]
    ]
    assert summary["failed"] == 0, failed
    assert summary["passed"] > 30
    assert result.returncode == 0

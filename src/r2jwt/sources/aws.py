"""``aws-sm://SECRET_ID``: a keyset document in an AWS Secrets Manager secret.

``aws-sm://SECRET_ID?region=…&stage=AWSCURRENT&version_id=…&profile=…``. SECRET_ID is everything
up to ``?``: a name (slashes allowed) or a full ARN. ``stage`` picks a staging label (default
``AWSCURRENT``; ``AWSPREVIOUS``, ``AWSPENDING`` or a custom label); ``version_id`` pins a version.
Without ``region`` the region comes from an ARN, else from boto3's usual chain (``AWS_REGION``,
the profile). Credentials come from boto3's default chain (or ``profile``), and boto3 itself
honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_SECRETS_MANAGER``.

boto3 is the optional extra ``aws``. It is imported when a source is built, never when r2jwt is.

Reading is one ``GetSecretValue``; the document is the SecretString (or a SecretBinary holding the
same JSON) and its version tag is the VersionId, so the key cache skips parsing while it holds.

Writing (``r2jwt keys add | retire | remove``) never overwrites a change it did not see:

1. the caller read ``AWSCURRENT`` and its VersionId (``expected_version``);
2. ``PutSecretValue`` stores the new document as a new version labelled only ``R2JWT_PENDING``,
   so readers of ``AWSCURRENT`` do not see it yet (``AWSPENDING`` belongs to AWS's rotation
   functions, so it is left alone). A fresh ``ClientRequestToken`` makes SDK retries idempotent;
3. ``UpdateSecretVersionStage`` moves ``AWSCURRENT`` to the new version with
   ``RemoveFromVersionId=expected_version``. Secrets Manager refuses when ``AWSCURRENT`` is no
   longer on that version: that is a lost race, reported as :class:`WriteConflictError`. Otherwise
   the old version becomes ``AWSPREVIOUS``;
4. ``R2JWT_PENDING`` is removed again, after a lost race too (best effort: a label left behind is
   harmless, and the next ``PutSecretValue`` with it takes it over).

The first value of an existing but empty secret (``expected_version=None``) is put the same way:
Secrets Manager attaches ``AWSCURRENT`` by itself to a secret's first version and only to it, so
when the new version came back without ``AWSCURRENT`` another writer was first.

Secrets Manager actions used: ``GetSecretValue``, ``PutSecretValue``, ``UpdateSecretVersionStage``
and ``DescribeSecret`` (only to tell a lost race from another refusal) — exactly what the
Terraform module's rotator policy grants. r2jwt never creates or deletes secrets.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Self, TypeVar
from urllib.parse import unquote

from r2jwt._version import __version__
from r2jwt.errors import (
    ConfigurationError,
    MissingExtraError,
    SourceError,
    SourceNotFoundError,
    SourceURLError,
    WriteConflictError,
)
from r2jwt.sources.base import Document, Source, SourceURL

if TYPE_CHECKING:
    from botocore.exceptions import BotoCoreError, ClientError
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

__all__ = ["AwsSecretsManagerSource"]

log = logging.getLogger("r2jwt")

T = TypeVar("T")

AWSCURRENT: Final = "AWSCURRENT"
#: The label of a version r2jwt has put but not yet made current.
PENDING_LABEL: Final = "R2JWT_PENDING"

#: Seconds to open a connection and to wait for a response, and attempts per call (standard retry
#: mode: throttling, 5xx and connection errors, with jittered backoff). An unreachable endpoint
#: fails within seconds instead of hanging a signer's first load or a CLI command.
CONNECT_TIMEOUT: Final = 2.0
READ_TIMEOUT: Final = 5.0
MAX_ATTEMPTS: Final = 3

#: Every Secrets Manager operation this source calls (the IAM actions are ``secretsmanager:`` +
#: these). Readers need only GetSecretValue.
OPERATIONS: Final = frozenset(
    {"GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage", "DescribeSecret"}
)

_ARN = re.compile(r"^arn:[a-z-]+:secretsmanager:([a-z0-9-]+):\d{12}:secret:.+$")

_THROTTLED = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
    }
)
_SERVER_SIDE = frozenset(
    {"InternalServiceError", "InternalFailure", "ServiceUnavailable", "RequestTimeout"}
)
_BAD_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredTokenException",
    }
)
# How Secrets Manager refuses an UpdateSecretVersionStage whose RemoveFromVersionId no longer
# holds the label. The wording of the message is not an API, so a refusal is checked by asking
# where AWSCURRENT is (DescribeSecret), never by reading the text.
_REFUSALS = frozenset({"InvalidParameterException", "InvalidRequestException"})


class AwsSecretsManagerSource(Source):
    """Read and write a keyset document in an AWS Secrets Manager secret.

    :param secret_id: the secret's name or full ARN.
    :param region: the secret's region; default: the ARN's, else boto3's (``AWS_REGION``...).
    :param stage: the staging label to read (default ``AWSCURRENT``).
    :param version_id: a VersionId to pin (with ``stage``, both must match).
    :param profile: a profile from the AWS config files.
    :param client: a ready ``boto3`` Secrets Manager client to use instead (its region and
        credentials then apply; ``region`` and ``profile`` must not be given). The caller keeps
        ownership: :meth:`close` does not close it.

    Writes go through ``AWSCURRENT`` only, so a source with ``stage`` other than ``AWSCURRENT``
    or with ``version_id`` is read-only.
    """

    scheme = "aws-sm"

    def __init__(
        self,
        secret_id: str,
        *,
        region: str | None = None,
        stage: str | None = None,
        version_id: str | None = None,
        profile: str | None = None,
        client: SecretsManagerClient | None = None,
    ) -> None:
        self.secret_id = secret_id
        self.stage = stage
        self.version_id = version_id
        options = {"region": region, "stage": stage, "version_id": version_id, "profile": profile}
        query = "&".join(f"{k}={v}" for k, v in options.items() if v is not None)
        self.name = f"aws-sm://{secret_id}" + (f"?{query}" if query else "")
        if not secret_id:
            raise SourceURLError(
                "aws-sm:// needs a secret name or ARN, like aws-sm://r2/jwt?region=eu-west-1",
                url=self.name,
            )
        if client is not None:
            if region is not None or profile is not None:
                raise ConfigurationError(
                    f"{self.name}: pass either client= or region=/profile=, not both "
                    f"(a client has its own region and credentials)"
                )
            self._client = client
            self._owns_client = False
        else:
            self._client_args = (region or _arn_region(secret_id), profile)
            self._client = _new_client(*self._client_args, name=self.name)
            self._owns_client = True

    @classmethod
    def from_url(cls, url: SourceURL) -> Self:
        options = url.options("region", "stage", "version_id", "profile")
        for option, value in options.items():
            if not value:
                raise SourceURLError(
                    f"source {url.display!r}: option {option!r} is empty", url=url.display
                )
        return cls(
            unquote(url.target),
            region=options.get("region"),
            stage=options.get("stage"),
            version_id=options.get("version_id"),
            profile=options.get("profile"),
        )

    @property
    def region(self) -> str:
        """The region the client calls."""
        return str(self._client.meta.region_name)

    # -- reading -------------------------------------------------------------------------------

    def read(self) -> Document:
        request = {"SecretId": self.secret_id}
        if self.version_id is not None:
            request["VersionId"] = self.version_id
        if self.stage is not None or self.version_id is None:
            request["VersionStage"] = self.stage or AWSCURRENT
        response = self._call("GetSecretValue", lambda: self._client.get_secret_value(**request))
        if "SecretString" in response:
            data = response["SecretString"].encode("utf-8")
        elif "SecretBinary" in response:
            data = bytes(response["SecretBinary"])
        else:
            raise SourceError(
                f"{self._what()} holds neither a SecretString nor a SecretBinary",
                source=self.name,
            )
        return Document(data, response["VersionId"])

    # -- writing -------------------------------------------------------------------------------

    def write(self, data: bytes, *, expected_version: str | None) -> Document:
        if self.stage not in (None, AWSCURRENT) or self.version_id is not None:
            raise SourceURLError(
                f"{self.name} is read-only: keys are changed through AWSCURRENT only; use "
                f"aws-sm://{self.secret_id} without ?stage= and ?version_id=",
                url=self.name,
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError("the keyset document is not UTF-8 text", source=self.name) from None

        put = self._call(
            "PutSecretValue",
            lambda: self._client.put_secret_value(
                SecretId=self.secret_id,
                SecretString=text,
                ClientRequestToken=str(uuid.uuid4()),
                VersionStages=[PENDING_LABEL],
            ),
        )
        new_version = put["VersionId"]
        try:
            if expected_version is None:
                # Only a secret's first version gets AWSCURRENT without being asked for it.
                if AWSCURRENT not in put.get("VersionStages", ()):
                    raise self._conflict()
            else:
                self._move_current(new_version, expected_version)
        finally:
            self._remove_pending(new_version)
        return Document(data, new_version)

    def _move_current(self, new_version: str, expected_version: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        operation = "UpdateSecretVersionStage"
        try:
            self._client.update_secret_version_stage(
                SecretId=self.secret_id,
                VersionStage=AWSCURRENT,
                MoveToVersionId=new_version,
                RemoveFromVersionId=expected_version,
            )
        except ClientError as exc:
            if _code(exc) not in _REFUSALS:
                raise self._client_error(operation, exc) from exc
            try:
                current = self._current_version()
            except SourceError:
                raise self._client_error(operation, exc) from exc
            if current == new_version:
                return  # an SDK retry refused because its first attempt had moved the label
            if current != expected_version:
                raise self._conflict() from exc
            raise self._client_error(operation, exc) from exc
        except BotoCoreError as exc:
            raise self._sdk_error(operation, exc) from exc

    def _current_version(self) -> str | None:
        """The VersionId that holds AWSCURRENT now, or None when no version does."""
        described = self._call(
            "DescribeSecret", lambda: self._client.describe_secret(SecretId=self.secret_id)
        )
        for version, stages in described.get("VersionIdsToStages", {}).items():
            if AWSCURRENT in stages:
                return version
        return None

    def _remove_pending(self, version: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.update_secret_version_stage(
                SecretId=self.secret_id, VersionStage=PENDING_LABEL, RemoveFromVersionId=version
            )
        except (BotoCoreError, ClientError) as exc:
            reason = _code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            log.warning(
                "could not remove the label %s from version %s of secret %r (%s); it is "
                "harmless and the next write takes it over",
                PENDING_LABEL,
                version,
                self.secret_id,
                reason,
            )

    def _conflict(self) -> WriteConflictError:
        return WriteConflictError(
            f"the secret {self.secret_id!r} changed since it was read; run again. Nothing was "
            f"overwritten: the other writer's version stays AWSCURRENT",
            source=self.name,
        )

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def reset(self) -> None:
        # After os.fork the client's connection pool shares sockets with the parent: a child
        # must open its own. An injected client is the caller's to manage.
        if self._owns_client:
            self._client = _new_client(*self._client_args, name=self.name)

    # -- errors --------------------------------------------------------------------------------

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        """Run one SDK call, turning the SDK's exceptions into r2jwt's."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as exc:
            raise self._client_error(operation, exc) from exc
        except BotoCoreError as exc:
            raise self._sdk_error(operation, exc) from exc

    def _what(self) -> str:
        detail = [f"region {self.region}"]
        if self.version_id is not None:
            detail.insert(0, f"version {self.version_id}")
        if self.stage is not None:
            detail.insert(0, f"stage {self.stage}")
        return f"secret {self.secret_id!r} ({', '.join(detail)})"

    def _client_error(self, operation: str, exc: ClientError) -> SourceError:
        """An error Secrets Manager answered with. Its messages name the caller and the secret,
        never a secret's value, so they are passed on."""
        code = _code(exc)
        message = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        said = f" (AWS: {message})" if message else ""
        what, name = self._what(), self.name

        if code == "ResourceNotFoundException":
            if operation == "GetSecretValue":
                return SourceNotFoundError(
                    f"{what} does not exist or holds no value yet{said}; check the name and "
                    f"region, or put the first key in with 'r2jwt keys add --source {name}'",
                    source=name,
                )
            return SourceNotFoundError(
                f"{what} does not exist{said}; r2jwt does not create secrets: create it with "
                f"'aws secretsmanager create-secret --name {self.secret_id}' or the Terraform "
                f"module terraform/modules/aws-secrets-manager, then run this again",
                source=name,
            )
        if code == "AccessDeniedException":
            action = f"secretsmanager:{operation}"
            kms = "kms:GenerateDataKey" if operation == "PutSecretValue" else "kms:Decrypt"
            return SourceError(
                f"access denied: this AWS identity may not call {action} on {what}{said}; "
                f"grant {action} on the secret, and {kms} on its KMS key when that is a "
                f"customer-managed key",
                source=name,
            )
        if code in ("DecryptionFailure", "EncryptionFailure"):
            verb, kms = (
                ("decrypt", "kms:Decrypt")
                if code == "DecryptionFailure"
                else ("encrypt", "kms:GenerateDataKey")
            )
            return SourceError(
                f"Secrets Manager cannot {verb} {what} with its KMS key{said}; check that the "
                f"key is enabled and not pending deletion, and that this identity may use {kms} "
                f"on it",
                source=name,
            )
        if code == "InvalidRequestException" and "delet" in message.lower():
            return SourceError(
                f"{what} is scheduled for deletion{said}; restore it with 'aws secretsmanager "
                f"restore-secret --secret-id {self.secret_id}'",
                source=name,
            )
        if code in _BAD_CREDENTIALS:
            return SourceError(
                f"AWS rejected the credentials calling {operation} on {what} ({code}){said}; "
                f"refresh them ('aws sso login', a new session token) or check AWS_PROFILE",
                source=name,
            )
        if code in _THROTTLED or code in _SERVER_SIDE or status >= 500:
            return SourceError(
                f"Secrets Manager could not serve {operation} on {what} ({code}, HTTP {status})"
                f"{said}; this is usually temporary",
                source=name,
                transient=True,
            )
        return SourceError(f"{operation} on {what} failed: {code}{said}", source=name)

    def _sdk_error(self, operation: str, exc: BotoCoreError) -> SourceError:
        """An error before or instead of an answer. Only the exception's type and the endpoint
        are shown: some SDK messages quote request parameters."""
        from botocore import exceptions as sdk

        kind, what, name = type(exc).__name__, self._what(), self.name
        endpoint = self._client.meta.endpoint_url
        if isinstance(exc, sdk.SSLError):
            return SourceError(
                f"TLS to Secrets Manager at {endpoint} failed ({kind}) calling {operation} on "
                f"{what}; check AWS_CA_BUNDLE and any proxy",
                source=name,
            )
        if isinstance(exc, sdk.ConnectionError | sdk.HTTPClientError):
            return SourceError(
                f"cannot reach Secrets Manager at {endpoint} ({kind}) calling {operation} on "
                f"{what}, after retries; check the network, the region and AWS_ENDPOINT_URL; "
                f"this is usually temporary",
                source=name,
                transient=True,
            )
        if isinstance(exc, sdk.NoCredentialsError | sdk.PartialCredentialsError):
            return SourceError(
                f"no AWS credentials to call {operation} on {what} ({kind}); run with a role "
                f"(instance profile, ECS task role, EKS Pod Identity or IRSA) or set AWS_PROFILE",
                source=name,
            )
        if isinstance(exc, sdk.SSOError | sdk.TokenRetrievalError):
            return SourceError(
                f"the AWS SSO session for {what} cannot be used ({kind}); run 'aws sso login'",
                source=name,
            )
        if isinstance(exc, sdk.CredentialRetrievalError | sdk.MetadataRetrievalError):
            return SourceError(
                f"could not obtain AWS credentials to call {operation} on {what} ({kind}); "
                f"this is usually temporary",
                source=name,
                transient=True,
            )
        return SourceError(
            f"the AWS SDK failed calling {operation} on {what} ({kind}); run with --debug for "
            f"details",
            source=name,
        )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _arn_region(secret_id: str) -> str | None:
    match = _ARN.match(secret_id)
    return match.group(1) if match else None


def _new_client(region: str | None, profile: str | None, *, name: str) -> SecretsManagerClient:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise MissingExtraError(module="boto3", extra="aws") from exc
    from botocore.exceptions import InvalidRegionError, NoRegionError, ProfileNotFound

    config = Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        user_agent_extra=f"r2jwt/{__version__}",
    )
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        return session.client("secretsmanager", config=config)
    except ProfileNotFound as exc:
        raise ConfigurationError(
            f"{name}: AWS profile {profile!r} is not in the AWS config files "
            f"(~/.aws/config, or $AWS_CONFIG_FILE)"
        ) from exc
    except NoRegionError as exc:
        raise ConfigurationError(
            f"{name}: no AWS region; add ?region=eu-west-1 (your region) to the source URL, "
            f"use the secret's ARN, or set AWS_REGION"
        ) from exc
    except InvalidRegionError as exc:
        raise SourceURLError(f"{name}: {region!r} is not an AWS region name", url=name) from exc

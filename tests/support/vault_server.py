"""A Vault HTTP API server of our own, for tests.

No Vault binary can be installed where our tests run, so this module serves the
part of Vault's HTTP API that r2jwt's ``vault://`` source uses, following
Vault's documented wire format closely enough that hvac drives it exactly as it
drives a real Vault: the same paths, JSON envelopes, status codes and error
strings.  It is standard library only: a ``ThreadingHTTPServer`` on 127.0.0.1,
on a free port, in a daemon thread.

    with FakeVault() as vault:
        client = hvac.Client(url=vault.addr, token=vault.root_token)
        client.secrets.kv.v2.create_or_update_secret("r2/jwt", secret={...})

What it serves (see NOTES.md beside the tests for the Vault docs each follows):

- ``sys/health``, ``sys/seal-status``, ``sys/mounts``, ``sys/internal/ui/mounts/<path>``
- token auth: ``auth/token/lookup-self``, ``lookup``, ``renew-self``, ``create``,
  ``revoke-self``; ``X-Vault-Token`` or ``Authorization: Bearer``
- AppRole and Kubernetes login at any mount path
- KV v2 (``data/``, ``metadata/``, ``delete/``, ``undelete/``, ``destroy/``,
  ``config``) with check-and-set, and KV v1
- ACL policies with Vault's glob (``*``) and segment (``+``) patterns
- namespaces (``X-Vault-Namespace``), resolved by longest prefix as Vault
  Enterprise does
- fault knobs: sealed, standby, uninitialised, injected responses, delays,
  dropped connections; a request log for server-side counting

Nothing here logs, prints or records a token or a secret value: the request log
keeps method, path, namespace, query and status only, and reprs leave tokens
and data out.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "ERR_CAS_MISMATCH",
    "ERR_CAS_REQUIRED",
    "ERR_INVALID_TOKEN",
    "ERR_PERMISSION_DENIED",
    "ERR_SEALED",
    "ERR_STANDBY",
    "FakeVault",
    "KVMount",
    "ManualClock",
    "RequestRecord",
    "TLSUnavailableError",
]

JSONDict = dict[str, Any]
Clock = Callable[[], float]

VAULT_VERSION = "1.17.3"
#: 768h, Vault's default ``max_lease_ttl``: the TTL of a token that asked for
#: none, the cap on every token, and the lease a KV v1 read reports.
SYSTEM_MAX_TTL = 2_764_800
DEFAULT_KV_MAX_VERSIONS = 10

# Error strings as Vault writes them.  ACL denials come out of a go-multierror,
# hence the odd layout; an unknown or expired token gets "invalid token" too
# (website/content/docs/concepts/tokens.mdx, "Error Responses").
ERR_PERMISSION_DENIED = "1 error occurred:\n\t* permission denied\n\n"
ERR_INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
ERR_SEALED = "Vault is sealed"
ERR_STANDBY = "local node not active but active cluster node not found"
ERR_CAS_MISMATCH = "check-and-set parameter did not match the current version"
ERR_CAS_REQUIRED = "check-and-set parameter required for this call"
ERR_CAS_PARSE = "error parsing check-and-set parameter"
ERR_APPROLE_INVALID = "invalid role or secret ID"
ERR_NOT_RENEWABLE = "lease is not renewable"
ERR_INTERNAL = "1 error occurred:\n\t* internal error\n\n"

_CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny"})

# Vault's built-in "default" policy, the part of it a client of ours touches.
_DEFAULT_POLICY: dict[str, frozenset[str]] = {
    "auth/token/lookup-self": frozenset({"read"}),
    "auth/token/renew-self": frozenset({"update"}),
    "auth/token/revoke-self": frozenset({"update"}),
    "sys/capabilities-self": frozenset({"update"}),
}

_KV2_ROOT_WARNING = "Non-listing operations on the root of a K/V v2 mount are not supported."
_KV2_INVALID_PATH_WARNING = (
    "Invalid path for a versioned K/V secrets engine. See the API docs for the "
    "appropriate API endpoints to use. If using the Vault CLI, use 'vault kv {}' "
    "for this operation."
)
_CLI_VERB = {
    "read": "get",
    "list": "list",
    "update": "put",
    "delete": "delete",
    "patch": "patch",
}

# Paths Vault answers without a token and whatever its seal state.
_UNAUTHENTICATED_SYS = frozenset({"sys/health", "sys/seal-status", "sys/leader"})


class TLSUnavailableError(RuntimeError):
    """Raised by ``FakeVault.start(tls=True)`` when no certificate can be made here.

    A certificate needs the ``cryptography`` package or an ``openssl`` binary.
    """


class ManualClock:
    """A clock for tests: ``clock()`` returns ``now``, which moves only on ``advance``.

    Pass one as ``FakeVault(clock=...)`` so token TTLs expire without sleeping.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        with self._lock:
            self._now += seconds


@dataclass(frozen=True)
class KVMount:
    """A KV secrets engine to mount at ``path``, KV ``version`` 1 or 2.

    ``cas_required`` and ``max_versions`` are the engine's ``config`` (KV v2 only;
    ``max_versions`` 0 means Vault's default of 10).  ``namespace``: where it is.
    """

    path: str
    version: int = 2
    cas_required: bool = False
    max_versions: int = 0
    namespace: str = ""
    description: str = ""


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered: no token, no body, no secret value.

    ``path`` is the URL path after ``/v1/``, percent-decoded, without the query;
    ``namespace`` is the ``X-Vault-Namespace`` header ("" when absent).
    """

    method: str
    path: str
    namespace: str
    status: int
    query: str = ""


# --------------------------------------------------------------------------- state


@dataclass
class _Token:
    id: str = field(repr=False)
    accessor: str
    policies: list[str]
    namespace: str
    path: str
    display_name: str
    meta: dict[str, str] | None
    renewable: bool
    creation_ttl: int  # seconds; 0 for a token that never expires
    explicit_max_ttl: int
    max_ttl: int  # the effective cap on the token's life, seconds from issue
    issued_at: float  # clock()
    issued_wall: float  # wall_clock()
    expire_at: float | None  # clock(); None never expires
    orphan: bool
    last_renewal_wall: float | None = None


@dataclass
class _Version:
    data: JSONDict | None = field(repr=False)
    created_wall: float
    deletion_wall: float | None = None
    destroyed: bool = False


@dataclass
class _V2Key:
    created_wall: float
    updated_wall: float
    versions: dict[int, _Version] = field(default_factory=dict)
    current_version: int = 0
    oldest_version: int = 0
    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: str = "0s"
    custom_metadata: dict[str, str] | None = None


@dataclass
class _KVEngine:
    mount: KVMount
    accessor: str
    uuid: str
    cas_required: bool
    max_versions: int
    delete_version_after: str = "0s"
    v2: dict[str, _V2Key] = field(default_factory=dict, repr=False)
    v1: dict[str, JSONDict] = field(default_factory=dict, repr=False)


@dataclass
class _AppRole:
    name: str
    role_id: str = field(repr=False)
    secret_ids: set[str] = field(repr=False)
    policies: list[str]
    token_ttl: int
    token_max_ttl: int
    renewable: bool
    no_default_policy: bool


@dataclass
class _KubernetesRole:
    name: str
    jwts: set[str] = field(repr=False)
    policies: list[str]
    token_ttl: int
    token_max_ttl: int
    renewable: bool
    no_default_policy: bool
    service_account_name: str
    service_account_namespace: str


@dataclass
class _AuthMount:
    type: str
    path: str  # "auth/approle"
    accessor: str
    approles: dict[str, _AppRole] = field(default_factory=dict)
    kubernetes_roles: dict[str, _KubernetesRole] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int | None
    errors: list[str] | None
    body: JSONDict | None
    headers: dict[str, str]
    remaining: int
    path: str | None
    method: str | None
    namespace: str | None
    delay: float
    disconnect: bool


@dataclass
class _Request:
    method: str
    path: str  # after /v1/, decoded
    query: dict[str, list[str]]
    headers: Message
    body: bytes = field(repr=False)
    namespace_header: str

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Response:
    status: int
    body: JSONDict | None = None
    headers: dict[str, str] = field(default_factory=dict)
    disconnect: bool = False


@dataclass
class _Route:
    capability: str
    handler: Callable[[], _Response]


class _BadRequest(Exception):
    """A request Vault would refuse with 400 and this message."""


# --------------------------------------------------------------------------- helpers


def _error(status: int, *messages: str, headers: Mapping[str, str] | None = None) -> _Response:
    # logical.RespondError: {"errors": []} when there is no message.
    return _Response(status, {"errors": list(messages)}, dict(headers or {}))


def _rfc3339(wall: float) -> str:
    # Vault prints RFC 3339 with fractional seconds in UTC; Python gives microseconds.
    return dt.datetime.fromtimestamp(wall, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _random_id(prefix: str = "") -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(24))


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def _parse_duration(value: object, *, field_name: str) -> int:
    """Seconds from an int or a Go-style duration ("90", "90s", "1h30m", "7d")."""
    if isinstance(value, bool):
        raise _BadRequest(f"invalid duration for {field_name}")
    if isinstance(value, (int, float)):
        return int(value)
    if not isinstance(value, str):
        raise _BadRequest(f"invalid duration for {field_name}")
    text = value.strip()
    if text == "":
        return 0
    if text.isdigit():
        return int(text)
    total = 0.0
    position = 0
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            raise _BadRequest(f"invalid duration for {field_name}")
        total += float(match.group(1)) * scale[match.group(2)]
        position = match.end()
    if position != len(text):
        raise _BadRequest(f"invalid duration for {field_name}")
    return int(total)


def _parse_bool(value: object, *, field_name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "t", "true", "yes"}:
        return True
    if isinstance(value, str) and value.lower() in {"0", "f", "false", "no"}:
        return False
    raise _BadRequest(f"error converting input {value!r} for field {field_name!r}")


def _query_bool(request: _Request, name: str) -> bool:
    # Vault: the parameter present with an empty value counts as true.
    values = request.query.get(name)
    if values is None:
        return False
    return values[0] == "" or values[0].lower() in {"1", "t", "true"}


def _policy_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return [p.strip() for p in value if p.strip()]
    raise _BadRequest("policies must be a list of strings or a comma-separated string")


def _sanitize_policies(policies: Iterable[str], *, add_default: bool) -> list[str]:
    # policyutil.SanitizePolicies: dedupe, sort, add "default" unless root.
    result = {p.strip().lower() for p in policies if p.strip()}
    if add_default and "root" not in result:
        result.add("default")
    return sorted(result)


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


@lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    glob = pattern.endswith("*")
    base = pattern[:-1] if glob else pattern
    pieces = []
    for index, segment in enumerate(base.split("/")):
        if index:
            pieces.append("/")
        pieces.append("[^/]+" if segment == "+" else re.escape(segment))
    return re.compile("".join(pieces) + (".*" if glob else "") + r"\Z")


def _pattern_priority(pattern: str) -> tuple[int, bool, int, int, str]:
    """Sort key, higher wins (Vault's policy docs, "Priority matching")."""
    wildcard_positions = [i for i, c in enumerate(pattern) if c == "*"]
    segments = pattern.split("/")
    offset = 0
    for segment in segments:
        if segment == "+":
            wildcard_positions.append(offset)
        offset += len(segment) + 1
    first_wildcard = min(wildcard_positions) if wildcard_positions else 1 << 30
    plus_count = sum(1 for s in segments if s == "+")
    return (
        first_wildcard,
        not pattern.endswith("*"),
        -plus_count,
        len(pattern),
        pattern,
    )


def _pattern_reaches_under(pattern: str, mount_segments: list[str]) -> bool:
    """Whether ``pattern`` can match a path below the mount with these segments."""
    glob = pattern.endswith("*")
    segments = (pattern[:-1] if glob else pattern).split("/")
    for index, wanted in enumerate(mount_segments):
        if index >= len(segments):
            return False
        segment = segments[index]
        if glob and index == len(segments) - 1:
            return segment == "+" or wanted.startswith(segment)
        if segment not in ("+", wanted):
            return False
    return len(segments) > len(mount_segments) or glob


# --------------------------------------------------------------------------- the server


class FakeVault:
    """A Vault server of our own on 127.0.0.1, driven over HTTP (by hvac in our tests).

    Keyword arguments:

    - ``root_token``: the root token (random ``hvs.``-prefixed by default).
    - ``kv_mounts``: KV engines to mount; default ``secret`` (KV v2) and ``kv`` (KV v1).
    - ``namespaces``: namespaces to create besides the root one; setup methods that
      name a namespace create it (and its parents) too.
    - ``clock``: seconds, monotonic, for token TTLs (default ``time.monotonic``); pass a
      ``ManualClock`` to expire tokens without sleeping.
    - ``wall_clock``: seconds since the epoch, for timestamps in responses.
    - ``version``: what ``sys/health`` and ``sys/seal-status`` report.

    Knobs, plain attributes that tests may flip at any time: ``sealed``, ``standby``,
    ``initialized``, ``delay`` (seconds slept before answering each request).
    """

    def __init__(
        self,
        *,
        root_token: str | None = None,
        kv_mounts: Sequence[KVMount] | None = None,
        namespaces: Iterable[str] = (),
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        version: str = VAULT_VERSION,
    ) -> None:
        self.sealed = False
        self.standby = False
        self.initialized = True
        self.delay = 0.0

        self._clock = clock
        self._wall_clock = wall_clock
        self._version = version
        self._cluster_id = str(uuid.uuid4())
        self._lock = threading.RLock()
        self._namespaces: set[str] = {""}
        self._kv: dict[tuple[str, str], _KVEngine] = {}
        self._auth: dict[tuple[str, str], _AuthMount] = {}
        self._policies: dict[tuple[str, str], dict[str, frozenset[str]]] = {}
        self._tokens: dict[str, _Token] = {}
        self._faults: list[_Fault] = []
        self._log: list[RequestRecord] = []

        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._scheme = "http"
        self.ca_cert: str | None = None
        """Path of the self-signed certificate (PEM) when started with ``tls=True``."""

        for namespace in namespaces:
            self.add_namespace(namespace)
        for mount in (
            kv_mounts if kv_mounts is not None else (KVMount("secret"), KVMount("kv", version=1))
        ):
            self.mount_kv(
                mount.path,
                version=mount.version,
                cas_required=mount.cas_required,
                max_versions=mount.max_versions,
                namespace=mount.namespace,
                description=mount.description,
            )
        self._root_token = self._issue_token(
            token_id=root_token or _random_id("hvs."),
            policies=["root"],
            namespace="",
            path="auth/token/root",
            display_name="root",
            meta=None,
            ttl=0,
            explicit_max_ttl=0,
            renewable=False,
            orphan=True,
        ).id

    def __repr__(self) -> str:
        where = self.addr if self._httpd is not None else "stopped"
        return f"<FakeVault {where}>"

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, tls: bool = False) -> FakeVault:
        """Serve on a free port of 127.0.0.1 in a daemon thread; return self.

        With ``tls=True`` the server speaks HTTPS with a self-signed certificate made
        now (``ca_cert`` names the file to pass as hvac's ``verify=``); raises
        ``TLSUnavailableError`` when neither ``cryptography`` nor ``openssl`` is here.
        """
        if self._httpd is not None:
            raise RuntimeError("FakeVault is already running")
        httpd = _HTTPServer(("127.0.0.1", 0), self)
        if tls:
            try:
                self._tls_dir = tempfile.TemporaryDirectory(prefix="fakevault-tls-")
                cert, key = _make_self_signed_cert(Path(self._tls_dir.name))
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(cert, key)
                httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
            except BaseException:
                httpd.server_close()
                self._cleanup_tls()
                raise
            self.ca_cert = str(cert)
            self._scheme = "https"
        else:
            self._scheme = "http"
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-vault",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.close_connections()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._cleanup_tls()

    def _cleanup_tls(self) -> None:
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None
        self.ca_cert = None

    def __enter__(self) -> FakeVault:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeVault is not running")
        return int(self._httpd.server_address[1])

    @property
    def addr(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` under TLS): ``VAULT_ADDR``."""
        return f"{self._scheme}://127.0.0.1:{self.port}"

    url = addr

    @property
    def root_token(self) -> str:
        return self._root_token

    # ------------------------------------------------------------------ setup

    def add_namespace(self, path: str) -> None:
        """Create namespace ``path`` ("a/b" creates "a" too)."""
        parts = [p for p in path.strip("/").split("/") if p]
        with self._lock:
            for end in range(1, len(parts) + 1):
                self._namespaces.add("/".join(parts[:end]))

    def mount_kv(
        self,
        path: str,
        *,
        version: int = 2,
        cas_required: bool = False,
        max_versions: int = 0,
        namespace: str = "",
        description: str = "",
    ) -> None:
        """Mount a KV engine (replacing whatever was mounted at ``path``)."""
        if version not in (1, 2):
            raise ValueError("KV version must be 1 or 2")
        namespace = namespace.strip("/")
        self.add_namespace(namespace)
        mount = KVMount(
            path.strip("/"), version, cas_required, max_versions, namespace, description
        )
        with self._lock:
            self._kv[(namespace, mount.path)] = _KVEngine(
                mount=mount,
                accessor=f"kv_{secrets.token_hex(4)}",
                uuid=str(uuid.uuid4()),
                cas_required=cas_required,
                max_versions=max_versions,
            )

    def add_policy(
        self, name: str, rules: Mapping[str, Iterable[str]], *, namespace: str = ""
    ) -> None:
        """Define ACL policy ``name``: path pattern -> capabilities, as in HCL.

        Patterns use Vault's ``*`` (glob, only at the end) and ``+`` (one path segment).
        Capabilities: create, read, update, patch, delete, list, sudo, deny.
        """
        compiled: dict[str, frozenset[str]] = {}
        for pattern, capabilities in rules.items():
            caps = frozenset(capabilities)
            unknown = caps - _CAPABILITIES
            if unknown:
                raise ValueError(f"unknown capabilities {sorted(unknown)} for {pattern!r}")
            if "*" in pattern[:-1]:
                raise ValueError(f"'*' may only end a pattern: {pattern!r}")
            compiled[pattern.lstrip("/")] = frozenset({"deny"}) if "deny" in caps else caps
        namespace = namespace.strip("/")
        self.add_namespace(namespace)
        with self._lock:
            self._policies[(namespace, name.lower())] = compiled

    def create_token(
        self,
        *,
        policies: Iterable[str] = (),
        ttl: int | str = 0,
        explicit_max_ttl: int | str = 0,
        renewable: bool = True,
        namespace: str = "",
        meta: Mapping[str, str] | None = None,
        display_name: str = "token",
        no_default_policy: bool = False,
    ) -> str:
        """Create a service token directly (no HTTP request, not logged); return its id.

        ``ttl`` 0 means Vault's default (768h).  ``policies`` gets "default" unless
        ``no_default_policy``; ``policies=["root"]`` makes a root token.
        """
        namespace = namespace.strip("/")
        self.add_namespace(namespace)
        with self._lock:
            token = self._issue_token(
                token_id=None,
                policies=_sanitize_policies(policies, add_default=not no_default_policy),
                namespace=namespace,
                path="auth/token/create",
                display_name=f"token-{display_name}" if display_name != "token" else "token",
                meta=dict(meta) if meta else None,
                ttl=_parse_duration(ttl, field_name="ttl") or SYSTEM_MAX_TTL,
                explicit_max_ttl=_parse_duration(explicit_max_ttl, field_name="explicit_max_ttl"),
                renewable=renewable,
                orphan=False,
            )
            return token.id

    def revoke_token(self, token: str) -> None:
        """Revoke a token now (later requests with it get 403)."""
        with self._lock:
            self._tokens.pop(token, None)

    def token_ttl(self, token: str) -> int | None:
        """Seconds the token has left by the server's clock; None if unknown/expired."""
        with self._lock:
            entry = self._live_token(token)
            if entry is None:
                return None
            return self._remaining(entry)

    def add_approle(
        self,
        name: str,
        *,
        role_id: str,
        secret_id: str | Iterable[str],
        policies: Iterable[str] = (),
        token_ttl: int | str = 0,
        token_max_ttl: int | str = 0,
        renewable: bool = True,
        no_default_policy: bool = False,
        mount: str = "approle",
        namespace: str = "",
    ) -> None:
        """Enable AppRole at ``auth/<mount>`` (if needed) and add a role."""
        auth = self._auth_mount("approle", mount, namespace)
        secret_ids = {secret_id} if isinstance(secret_id, str) else set(secret_id)
        with self._lock:
            auth.approles[name] = _AppRole(
                name=name,
                role_id=role_id,
                secret_ids=secret_ids,
                policies=list(policies),
                token_ttl=_parse_duration(token_ttl, field_name="token_ttl"),
                token_max_ttl=_parse_duration(token_max_ttl, field_name="token_max_ttl"),
                renewable=renewable,
                no_default_policy=no_default_policy,
            )

    def add_kubernetes_role(
        self,
        name: str,
        *,
        jwt: str | Iterable[str],
        policies: Iterable[str] = (),
        token_ttl: int | str = 0,
        token_max_ttl: int | str = 0,
        renewable: bool = True,
        no_default_policy: bool = False,
        service_account_name: str = "default",
        service_account_namespace: str = "default",
        mount: str = "kubernetes",
        namespace: str = "",
    ) -> None:
        """Enable Kubernetes auth at ``auth/<mount>`` if needed; add a role for ``jwt``.

        The JWT is compared as an opaque string; nothing verifies it as a JWT.
        """
        auth = self._auth_mount("kubernetes", mount, namespace)
        jwts = {jwt} if isinstance(jwt, str) else set(jwt)
        with self._lock:
            auth.kubernetes_roles[name] = _KubernetesRole(
                name=name,
                jwts=jwts,
                policies=list(policies),
                token_ttl=_parse_duration(token_ttl, field_name="token_ttl"),
                token_max_ttl=_parse_duration(token_max_ttl, field_name="token_max_ttl"),
                renewable=renewable,
                no_default_policy=no_default_policy,
                service_account_name=service_account_name,
                service_account_namespace=service_account_namespace,
            )

    def _auth_mount(self, kind: str, mount: str, namespace: str) -> _AuthMount:
        namespace = namespace.strip("/")
        self.add_namespace(namespace)
        path = _join("auth", mount)
        with self._lock:
            existing = self._auth.get((namespace, path))
            if existing is not None and existing.type != kind:
                raise ValueError(f"{path} is already a {existing.type} mount")
            if existing is None:
                existing = _AuthMount(
                    type=kind, path=path, accessor=f"auth_{kind}_{secrets.token_hex(4)}"
                )
                self._auth[(namespace, path)] = existing
            return existing

    # ---------------------------------------------------------- data, server side

    def put_secret(
        self, mount: str, path: str, data: Mapping[str, Any], *, namespace: str = ""
    ) -> int:
        """Write a secret directly (no HTTP, no ACL, not logged).

        Returns the new KV v2 version (0 on KV v1).
        """
        with self._lock:
            engine = self._engine(mount, namespace)
            key = path.strip("/")
            if engine.mount.version == 1:
                engine.v1[key] = copy.deepcopy(dict(data))
                return 0
            return self._v2_add_version(engine, key, copy.deepcopy(dict(data))).current_version

    def get_secret(
        self, mount: str, path: str, *, version: int | None = None, namespace: str = ""
    ) -> JSONDict | None:
        """A copy of a secret's data; None when absent, deleted or destroyed."""
        with self._lock:
            engine = self._engine(mount, namespace)
            key = path.strip("/")
            if engine.mount.version == 1:
                value = engine.v1.get(key)
                return copy.deepcopy(value) if value is not None else None
            meta = engine.v2.get(key)
            if meta is None:
                return None
            entry = meta.versions.get(version or meta.current_version)
            if (
                entry is None
                or entry.destroyed
                or entry.deletion_wall is not None
                or entry.data is None
            ):
                return None
            return copy.deepcopy(entry.data)

    def current_version(self, mount: str, path: str, *, namespace: str = "") -> int:
        """The KV v2 ``current_version`` of a secret (0 when it does not exist)."""
        with self._lock:
            meta = self._engine(mount, namespace).v2.get(path.strip("/"))
            return meta.current_version if meta else 0

    def _engine(self, mount: str, namespace: str) -> _KVEngine:
        engine = self._kv.get((namespace.strip("/"), mount.strip("/")))
        if engine is None:
            raise KeyError(f"no KV mount {mount!r} in namespace {namespace!r}")
        return engine

    # ---------------------------------------------------------- faults and the log

    def inject(
        self,
        status: int | None,
        *,
        times: int = 1,
        errors: Sequence[str] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        path: str | None = None,
        method: str | None = None,
        namespace: str | None = None,
        delay: float = 0.0,
        disconnect: bool = False,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``, unserved.

        A request matches when its path (after ``/v1/``) starts with ``path``, and
        its method and ``X-Vault-Namespace`` equal ``method`` / ``namespace`` (each
        when given).
        The body is ``body`` if given, else ``{"errors": errors}``, else Vault's usual
        error for that status (429 rate limit, 500 internal error, 503 sealed...).
        ``delay`` sleeps first; ``status=None`` with a delay only delays, then serves.
        ``disconnect=True`` closes the connection without answering.
        Faults queue in order; each request uses at most one.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(
                _Fault(
                    status=status,
                    errors=list(errors) if errors is not None else None,
                    body=dict(body) if body is not None else None,
                    headers=dict(headers or {}),
                    remaining=times,
                    path=path.lstrip("/") if path is not None else None,
                    method=method.upper() if method else None,
                    namespace=namespace.strip("/") if namespace is not None else None,
                    delay=delay,
                    disconnect=disconnect,
                )
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        """How many injected responses are still queued."""
        with self._lock:
            return sum(f.remaining for f in self._faults)

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request answered so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    def count(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        namespace: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many logged requests match every filter given.

        ``path`` must equal the logged path; ``path_prefix`` must start it.
        """
        with self._lock:
            return sum(
                1
                for r in self._log
                if (method is None or r.method == method.upper())
                and (path is None or r.path == path.strip("/"))
                and (path_prefix is None or r.path.startswith(path_prefix.lstrip("/")))
                and (namespace is None or r.namespace == namespace.strip("/"))
                and (status is None or r.status == status)
            )

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    # ---------------------------------------------------------- HTTP entry point

    def _serve_http(self, method: str, raw_path: str, headers: Message, body: bytes) -> _Response:
        split = urlsplit(raw_path)
        path = unquote(split.path)
        namespace_header = (headers.get("X-Vault-Namespace") or "").strip().strip("/")
        rel = path[len("/v1/") :] if path.startswith("/v1/") else None
        request = _Request(
            method=method.upper(),
            path=(rel or path).lstrip("/"),
            query=parse_qs(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            namespace_header=namespace_header,
        )

        if self.delay > 0:
            time.sleep(self.delay)
        fault = self._take_fault(request)
        if fault is not None and fault.delay > 0:
            time.sleep(fault.delay)

        if fault is not None and fault.disconnect:
            response = _Response(0, disconnect=True)
        elif fault is not None and fault.status is not None:
            response = self._fault_response(fault, request)
        elif rel is None:
            response = _error(404)
        else:
            try:
                with self._lock:
                    response = self._handle(request)
            except _BadRequest as exc:
                response = _error(400, str(exc))

        with self._lock:
            self._log.append(
                RequestRecord(
                    method=request.method,
                    path=request.path,
                    namespace=namespace_header,
                    status=response.status,
                    query=split.query,
                )
            )
        return response

    def _take_fault(self, request: _Request) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if (
                    (fault.path is None or request.path.startswith(fault.path))
                    and (fault.method is None or fault.method == request.method)
                    and (fault.namespace is None or fault.namespace == request.namespace_header)
                ):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _fault_response(self, fault: _Fault, request: _Request) -> _Response:
        status = cast(int, fault.status)
        if fault.body is not None:
            return _Response(status, copy.deepcopy(fault.body), dict(fault.headers))
        if fault.errors is not None:
            return _error(status, *fault.errors, headers=fault.headers)
        defaults = {
            429: "1 error occurred:\n\t* request path "
            f'"{request.path}": rate limit quota exceeded\n\n',
            500: ERR_INTERNAL,
            403: ERR_PERMISSION_DENIED,
            503: ERR_SEALED,
        }
        message = defaults.get(status)
        return _error(status, *([message] if message else []), headers=fault.headers)

    # ---------------------------------------------------------- request handling

    def _handle(self, request: _Request) -> _Response:
        # Order as in Vault: the always-open sys endpoints, the seal, the operation,
        # the namespace, login paths, the token, the ACL, then the backend.
        if request.path in _UNAUTHENTICATED_SYS:
            return self._sys_unauthenticated(request)
        if not self.initialized or self.sealed:
            return _error(503, ERR_SEALED)
        if self.standby:
            return _error(500, ERR_STANDBY)

        operation = _operation(request)
        if operation is None:
            return _error(405)
        namespace, path = self._resolve_namespace(request.namespace_header, request.path)
        if operation == "list" and not path.endswith("/"):
            path += "/"
        if path.endswith("/") and operation == "update":
            return _error(400, "cannot write to a path ending in '/'")

        auth_mount = self._login_mount(namespace, path)
        if auth_mount is not None and operation == "update":
            return self._login(auth_mount, namespace, _json_body(request))
        if path == "sys/internal/ui/mounts" or path.startswith("sys/internal/ui/mounts/"):
            return self._sys_ui_mounts(request, namespace, path)

        token = self._authenticate(request, namespace)
        if token is None:
            return _error(403, ERR_INVALID_TOKEN)
        route = self._route(request, namespace, path, operation, token)
        if not self._allowed(token, namespace, path, route.capability):
            return _error(403, ERR_PERMISSION_DENIED)
        return route.handler()

    def _resolve_namespace(self, header: str, path: str) -> tuple[str, str]:
        # Vault Enterprise joins the header and the path and takes the longest
        # namespace prefix; whatever is left is the path inside that namespace.  So an
        # unknown namespace is just an unknown path: 403 for most tokens, 404 for root.
        full = _join(header, path) + ("/" if path.endswith("/") else "")
        best = ""
        for candidate in self._namespaces:
            if (
                candidate
                and (full == candidate or full.startswith(candidate + "/"))
                and len(candidate) > len(best)
            ):
                best = candidate
        rest = full[len(best) :].lstrip("/") if best else full
        return best, rest

    def _login_mount(self, namespace: str, path: str) -> _AuthMount | None:
        if not path.endswith("/login"):
            return None
        return self._auth.get((namespace, path[: -len("/login")]))

    def _authenticate(self, request: _Request, namespace: str) -> _Token | None:
        token_id = request.headers.get("X-Vault-Token")
        if not token_id:
            authorization = request.headers.get("Authorization") or ""
            if authorization.startswith("Bearer "):
                token_id = authorization[len("Bearer ") :].strip()
        if not token_id:
            return None
        token = self._live_token(token_id)
        if token is None:
            return None
        # A token works in its own namespace and the namespaces below it.
        if (
            token.namespace
            and namespace != token.namespace
            and not namespace.startswith(token.namespace + "/")
        ):
            return None
        return token

    def _live_token(self, token_id: str) -> _Token | None:
        token = self._tokens.get(token_id)
        if token is not None and token.expire_at is not None and self._clock() >= token.expire_at:
            del self._tokens[token_id]
            return None
        return token

    def _allowed(self, token: _Token, namespace: str, path: str, capability: str) -> bool:
        if "root" in token.policies:
            return True
        capabilities = self._capabilities(token, self._acl_path(token, namespace, path))
        return "deny" not in capabilities and capability in capabilities

    @staticmethod
    def _acl_path(token: _Token, namespace: str, path: str) -> str:
        # Policies live in the token's namespace and name paths relative to it.
        below = namespace[len(token.namespace) :].strip("/") if token.namespace else namespace
        return f"{below}/{path}" if below else path

    def _capabilities(self, token: _Token, acl_path: str) -> frozenset[str]:
        rules: dict[str, frozenset[str]] = {}
        for name in token.policies:
            policy = self._policies.get((token.namespace, name), {})
            if name == "default":
                # Vault's built-in rules, plus what add_policy("default", ...) added.
                policy = {**_DEFAULT_POLICY, **policy}
            for pattern, caps in policy.items():
                merged = rules.get(pattern, frozenset()) | caps
                rules[pattern] = frozenset({"deny"}) if "deny" in merged else merged
        matching = [p for p in rules if _pattern_regex(p).match(acl_path)]
        if not matching:
            return frozenset()
        return rules[max(matching, key=_pattern_priority)]

    def _route(
        self,
        request: _Request,
        namespace: str,
        path: str,
        operation: str,
        token: _Token,
    ) -> _Route:
        if path == "sys/mounts" and operation == "read":
            return _Route("read", lambda: self._sys_mounts(namespace))
        if path.startswith("auth/token/"):
            route = self._token_route(request, namespace, path, operation, token)
            if route is not None:
                return route
        engine = self._kv_engine_for(namespace, path)
        if engine is not None:
            inside = path[len(engine.mount.path) :].lstrip("/")
            if engine.mount.version == 2:
                return self._kv2_route(engine, inside, operation, request)
            return self._kv1_route(engine, inside, operation, request)
        message = f'no handler for route "{path}". route entry not found.'
        return _Route(operation, lambda: _error(404, message))

    def _kv_engine_for(self, namespace: str, path: str) -> _KVEngine | None:
        best: _KVEngine | None = None
        for (ns, mount_path), engine in self._kv.items():
            if ns != namespace:
                continue
            if (path == mount_path or path.startswith(mount_path + "/")) and (
                best is None or len(mount_path) > len(best.mount.path)
            ):
                best = engine
        return best

    # ------------------------------------------------------------------ sys

    def _sys_unauthenticated(self, request: _Request) -> _Response:
        if request.path == "sys/health" and request.method in ("GET", "HEAD"):
            return self._sys_health(request)
        if request.path == "sys/seal-status" and request.method == "GET":
            return _Response(200, self._seal_status())
        if request.path == "sys/leader" and request.method == "GET":
            if self.sealed or not self.initialized:
                return _error(503, ERR_SEALED)
            return _Response(
                200,
                {
                    "ha_enabled": self.standby,
                    "is_self": not self.standby,
                    "active_time": "0001-01-01T00:00:00Z",
                    "leader_address": "" if self.standby else self.addr,
                    "leader_cluster_address": "",
                    "performance_standby": False,
                    "performance_standby_last_remote_wal": 0,
                },
            )
        return _error(405)

    def _sys_health(self, request: _Request) -> _Response:
        def code(name: str, default: int) -> int:
            raw = request.param(name)
            if raw is None:
                return default
            if not raw.isdigit():
                raise _BadRequest(f"bad code for {name}")
            return int(raw)

        active, standby = code("activecode", 200), code("standbycode", 429)
        sealed, uninit = code("sealedcode", 503), code("uninitcode", 501)
        if not self.initialized:
            status = uninit
        elif self.sealed:
            status = sealed
        elif self.standby:
            status = active if _query_bool(request, "standbyok") else standby
        else:
            status = active

        body: JSONDict = {
            "initialized": self.initialized,
            "sealed": self.sealed or not self.initialized,
            "standby": self.standby,
            "performance_standby": False,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": int(self._wall_clock()),
            "version": self._version,
            "enterprise": False,
            "echo_duration_ms": 0,
            "clock_skew_ms": 0,
            "replication_primary_canary_age_ms": 0,
        }
        if self.initialized and not self.sealed:
            body["cluster_name"] = "vault-cluster-fake"
            body["cluster_id"] = self._cluster_id
        return _Response(status, None if request.method == "HEAD" else body)

    def _seal_status(self) -> JSONDict:
        body: JSONDict = {
            "type": "shamir",
            "initialized": self.initialized,
            "sealed": self.sealed or not self.initialized,
            "t": 1,
            "n": 1,
            "progress": 0,
            "nonce": "",
            "version": self._version,
            "build_date": "2024-08-29T09:00:00Z",
            "migration": False,
            "recovery_seal": False,
            "storage_type": "inmem",
        }
        if self.initialized and not self.sealed:
            body["cluster_name"] = "vault-cluster-fake"
            body["cluster_id"] = self._cluster_id
        return body

    def _mount_entry(self, engine: _KVEngine) -> JSONDict:
        return {
            "accessor": engine.accessor,
            "config": {
                "default_lease_ttl": 0,
                "force_no_cache": False,
                "max_lease_ttl": 0,
            },
            "description": engine.mount.description,
            "external_entropy_access": False,
            "local": False,
            "options": {"version": str(engine.mount.version)},
            "plugin_version": "",
            "running_plugin_version": "v0.19.0+builtin",
            "running_sha256": "",
            "seal_wrap": False,
            "type": "kv",
            "uuid": engine.uuid,
        }

    def _sys_mounts(self, namespace: str) -> _Response:
        mounts: JSONDict = {}
        for builtin, kind in (
            ("cubbyhole/", "cubbyhole"),
            ("identity/", "identity"),
            ("sys/", "system"),
        ):
            mounts[builtin] = {
                "accessor": f"{kind}_fake",
                "config": {
                    "default_lease_ttl": 0,
                    "force_no_cache": False,
                    "max_lease_ttl": 0,
                },
                "description": "",
                "external_entropy_access": False,
                "local": kind == "cubbyhole",
                "options": None,
                "plugin_version": "",
                "running_plugin_version": f"{VAULT_VERSION}+builtin.vault",
                "running_sha256": "",
                "seal_wrap": kind == "cubbyhole",
                "type": kind,
                "uuid": f"00000000-0000-0000-0000-{kind[:4].encode().hex():0>12}",
            }
        for (ns, mount_path), engine in sorted(self._kv.items()):
            if ns == namespace:
                mounts[mount_path + "/"] = self._mount_entry(engine)
        # HTTPSysInjector: sys responses repeat "data" at the top level.
        body = _envelope(data=mounts, mount_type="system")
        return _Response(200, {**copy.deepcopy(mounts), **body})

    def _sys_ui_mounts(self, request: _Request, namespace: str, path: str) -> _Response:
        if request.method != "GET":
            return _error(405)
        target = path[len("sys/internal/ui/mounts") :].strip("/")
        if not target:
            return _Response(200, _envelope(data={"auth": {}, "secret": {}}, mount_type="system"))
        denied = _error(
            403,
            "preflight capability check returned 403, please ensure client's "
            f'policies grant access to path "{target}/"',
        )
        token = self._authenticate(request, namespace)
        if token is None:
            return _error(403, ERR_PERMISSION_DENIED)
        engine = self._kv_engine_for(namespace, target)
        if engine is None or not self._has_mount_access(token, namespace, engine.mount.path):
            return denied
        entry = self._mount_entry(engine)
        entry["path"] = engine.mount.path + "/"
        return _Response(200, _envelope(data=entry, mount_type="system"))

    def _has_mount_access(self, token: _Token, namespace: str, mount_path: str) -> bool:
        # Vault's hasMountAccess: any capability other than deny somewhere in the mount.
        if "root" in token.policies:
            return True
        mount_segments = self._acl_path(token, namespace, mount_path).split("/")
        for name in token.policies:
            for pattern, caps in self._policies.get((token.namespace, name), {}).items():
                if caps != {"deny"} and _pattern_reaches_under(pattern, mount_segments):
                    return True
        return False

    # ------------------------------------------------------------------ token auth

    def _issue_token(
        self,
        *,
        token_id: str | None,
        policies: list[str],
        namespace: str,
        path: str,
        display_name: str,
        meta: dict[str, str] | None,
        ttl: int,
        explicit_max_ttl: int,
        renewable: bool,
        orphan: bool,
    ) -> _Token:
        now = self._clock()
        is_root = "root" in policies and ttl == 0
        max_ttl = min(explicit_max_ttl or SYSTEM_MAX_TTL, SYSTEM_MAX_TTL)
        ttl = 0 if is_root else min(ttl, max_ttl)
        token = _Token(
            id=token_id or _random_id("hvs."),
            accessor=_random_id(),
            policies=policies,
            namespace=namespace,
            path=path,
            display_name=display_name,
            meta=meta,
            renewable=renewable and not is_root,
            creation_ttl=ttl,
            explicit_max_ttl=explicit_max_ttl,
            max_ttl=max_ttl,
            issued_at=now,
            issued_wall=self._wall_clock(),
            expire_at=None if is_root else now + ttl,
            orphan=orphan,
        )
        self._tokens[token.id] = token
        return token

    def _remaining(self, token: _Token) -> int:
        if token.expire_at is None:
            return 0
        return max(0, int(token.expire_at - self._clock()))

    def _auth_block(self, token: _Token, *, lease_duration: int) -> JSONDict:
        return {
            "client_token": token.id,
            "accessor": token.accessor,
            "policies": list(token.policies),
            "token_policies": list(token.policies),
            "metadata": dict(token.meta) if token.meta is not None else None,
            "lease_duration": lease_duration,
            "renewable": token.renewable,
            "entity_id": "",
            "token_type": "service",
            "orphan": token.orphan,
            "mfa_requirement": None,
            "num_uses": 0,
        }

    def _lookup_data(self, token: _Token) -> JSONDict:
        remaining = self._remaining(token)
        expire_time = None
        if token.expire_at is not None:
            expire_time = _rfc3339(self._wall_clock() + (token.expire_at - self._clock()))
        data: JSONDict = {
            "accessor": token.accessor,
            "creation_time": int(token.issued_wall),
            "creation_ttl": token.creation_ttl,
            "display_name": token.display_name,
            "entity_id": "",
            "expire_time": expire_time,
            "explicit_max_ttl": token.explicit_max_ttl,
            "id": token.id,
            "issue_time": _rfc3339(token.issued_wall),
            "meta": dict(token.meta) if token.meta is not None else None,
            "num_uses": 0,
            "orphan": token.orphan,
            "path": token.path,
            "policies": list(token.policies),
            "renewable": token.renewable,
            "ttl": remaining,
            "type": "service",
        }
        if token.last_renewal_wall is not None:
            data["last_renewal"] = _rfc3339(token.last_renewal_wall)
            data["last_renewal_time"] = int(token.last_renewal_wall)
        return data

    def _token_route(
        self,
        request: _Request,
        namespace: str,
        path: str,
        operation: str,
        token: _Token,
    ) -> _Route | None:
        if path == "auth/token/lookup-self" and operation == "read":
            return _Route(
                "read",
                lambda: _Response(
                    200, _envelope(data=self._lookup_data(token), mount_type="token")
                ),
            )
        if path == "auth/token/lookup" and operation == "update":
            return _Route("update", lambda: self._token_lookup(_json_body(request)))
        if path == "auth/token/renew-self" and operation == "update":
            return _Route("update", lambda: self._token_renew(token, _json_body(request)))
        if path == "auth/token/revoke-self" and operation == "update":
            return _Route("update", lambda: self._token_revoke(token))
        if path in ("auth/token/create", "auth/token/create-orphan") and operation == "update":
            orphan = path.endswith("-orphan")
            return _Route(
                "update",
                lambda: self._token_create(token, namespace, _json_body(request), orphan),
            )
        return None

    def _token_lookup(self, body: JSONDict) -> _Response:
        target_id = body.get("token")
        if not isinstance(target_id, str) or not target_id:
            return _error(400, "missing token")
        target = self._live_token(target_id)
        if target is None:
            return _error(403, "bad token")
        return _Response(200, _envelope(data=self._lookup_data(target), mount_type="token"))

    def _token_renew(self, token: _Token, body: JSONDict) -> _Response:
        if not token.renewable or token.expire_at is None:
            return _error(400, ERR_NOT_RENEWABLE)
        now = self._clock()
        increment = (
            _parse_duration(body.get("increment") or 0, field_name="increment")
            or token.creation_ttl
        )
        # framework.CalculateTTL: never past the token's max TTL, counted from issue.
        room = int(token.issued_at + token.max_ttl - now)
        warnings = None
        ttl = increment
        if increment > room:
            ttl = max(room, 0)
            warnings = [
                f'TTL of "{_go_duration(increment)}" exceeded the effective max_ttl of '
                f'"{_go_duration(ttl)}"; TTL value is capped accordingly'
            ]
        token.expire_at = now + ttl
        token.last_renewal_wall = self._wall_clock()
        return _Response(
            200,
            _envelope(
                auth=self._auth_block(token, lease_duration=ttl),
                warnings=warnings,
                mount_type="token",
            ),
        )

    def _token_revoke(self, token: _Token) -> _Response:
        self._tokens.pop(token.id, None)
        return _Response(204)

    def _token_create(
        self, parent: _Token, namespace: str, body: JSONDict, orphan: bool
    ) -> _Response:
        is_root = "root" in parent.policies
        requested = _policy_list(body.get("policies"))
        no_default = _parse_bool(
            body.get("no_default_policy", False), field_name="no_default_policy"
        )
        if not requested:
            requested = [p for p in parent.policies if p != "default" or not no_default]
        policies = _sanitize_policies(requested, add_default=not no_default)
        if not is_root and not set(policies) - {"default"} <= set(parent.policies):
            return _error(400, "child policies must be subset of parent")
        if "id" in body and not is_root:
            return _error(400, "root or sudo privileges required to specify token id")
        meta = body.get("meta")
        if meta is not None and not (
            isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())
        ):
            return _error(400, "meta must be a map of strings")
        display_name = str(body.get("display_name") or "token")
        token = self._issue_token(
            token_id=str(body["id"]) if body.get("id") else None,
            policies=policies,
            namespace=namespace,
            path="auth/token/create-orphan" if orphan else "auth/token/create",
            display_name="token" if display_name == "token" else f"token-{display_name}",
            meta=dict(meta) if meta else None,
            ttl=_parse_duration(body.get("ttl", 0), field_name="ttl")
            or (0 if policies == ["root"] else SYSTEM_MAX_TTL),
            explicit_max_ttl=_parse_duration(
                body.get("explicit_max_ttl", 0), field_name="explicit_max_ttl"
            ),
            renewable=_parse_bool(body.get("renewable", True), field_name="renewable"),
            orphan=orphan or bool(body.get("no_parent")),
        )
        return _Response(
            200,
            _envelope(
                auth=self._auth_block(token, lease_duration=token.creation_ttl),
                mount_type="token",
            ),
        )

    # ------------------------------------------------------------------ logins

    def _login(self, mount: _AuthMount, namespace: str, body: JSONDict) -> _Response:
        if mount.type == "approle":
            return self._login_approle(mount, namespace, body)
        return self._login_kubernetes(mount, namespace, body)

    def _login_response(
        self,
        *,
        namespace: str,
        mount: _AuthMount,
        policies: list[str],
        no_default_policy: bool,
        ttl: int,
        max_ttl: int,
        renewable: bool,
        meta: dict[str, str],
        display_name: str,
    ) -> _Response:
        token = self._issue_token(
            token_id=None,
            policies=_sanitize_policies(policies, add_default=not no_default_policy),
            namespace=namespace,
            path=f"{mount.path}/login",
            display_name=display_name,
            meta=meta,
            ttl=ttl or SYSTEM_MAX_TTL,
            explicit_max_ttl=max_ttl,
            renewable=renewable,
            orphan=True,
        )
        # A login answers with "auth" only; "data" is null.
        return _Response(
            200,
            _envelope(
                auth=self._auth_block(token, lease_duration=token.creation_ttl),
                mount_type=mount.type,
            ),
        )

    def _login_approle(self, mount: _AuthMount, namespace: str, body: JSONDict) -> _Response:
        # builtin/credential/approle/path_login.go: every failure but a missing field
        # reads "invalid role or secret ID", with status 400.
        role_id = str(body.get("role_id") or "").strip()
        if not role_id:
            return _error(400, "missing role_id")
        role = next((r for r in mount.approles.values() if r.role_id == role_id), None)
        if role is None:
            return _error(400, ERR_APPROLE_INVALID)
        secret_id = str(body.get("secret_id") or "").strip()
        if not secret_id:
            return _error(400, "missing secret_id")
        if not any(secrets.compare_digest(secret_id, s) for s in role.secret_ids):
            return _error(400, ERR_APPROLE_INVALID)
        return self._login_response(
            namespace=namespace,
            mount=mount,
            policies=role.policies,
            no_default_policy=role.no_default_policy,
            ttl=role.token_ttl,
            max_ttl=role.token_max_ttl,
            renewable=role.renewable,
            meta={"role_name": role.name},
            display_name=mount.path.removeprefix("auth/"),
        )

    def _login_kubernetes(self, mount: _AuthMount, namespace: str, body: JSONDict) -> _Response:
        # vault-plugin-auth-kubernetes path_login.go: a missing field or an unknown
        # role is 400; a JWT the cluster does not vouch for is 403 "permission denied".
        role_name = str(body.get("role") or "")
        if not role_name:
            return _error(400, "missing role")
        jwt = str(body.get("jwt") or "")
        if not jwt:
            return _error(400, "missing jwt")
        role = mount.kubernetes_roles.get(role_name)
        if role is None:
            return _error(400, f'invalid role name "{role_name}"')
        if not any(secrets.compare_digest(jwt, j) for j in role.jwts):
            return _error(403, "permission denied")
        sa_uid = str(
            uuid.uuid5(
                uuid.NAMESPACE_OID,
                f"{role.service_account_namespace}/{role.service_account_name}",
            )
        )
        return self._login_response(
            namespace=namespace,
            mount=mount,
            policies=role.policies,
            no_default_policy=role.no_default_policy,
            ttl=role.token_ttl,
            max_ttl=role.token_max_ttl,
            renewable=role.renewable,
            meta={
                "role": role.name,
                "service_account_name": role.service_account_name,
                "service_account_namespace": role.service_account_namespace,
                "service_account_secret_name": "",
                "service_account_uid": sa_uid,
            },
            display_name=f"{mount.path.removeprefix('auth/')}-{role.service_account_namespace}-"
            f"{role.service_account_name}",
        )

    # ------------------------------------------------------------------ KV v2

    def _kv2_route(
        self, engine: _KVEngine, inside: str, operation: str, request: _Request
    ) -> _Route:
        if inside == "config":
            if operation == "read":
                return _Route("read", lambda: self._kv2_config_read(engine))
            if operation == "update":
                return _Route(
                    "update",
                    lambda: self._kv2_config_write(engine, _json_body(request)),
                )
        for prefix in ("data/", "metadata/", "delete/", "undelete/", "destroy/"):
            if inside.startswith(prefix) and (
                inside != prefix or (prefix == "metadata/" and operation == "list")
            ):
                key = inside[len(prefix) :]
                route = self._kv2_subroute(engine, prefix[:-1], key, operation, request)
                if route is not None:
                    return route
        # pathInvalid in the KV plugin: a 404 that carries a warning and no "errors".
        if (
            inside.rstrip("/") in ("data", "metadata", "delete", "undelete", "destroy")
            and operation != "list"
        ):
            warning = _KV2_ROOT_WARNING
        else:
            warning = _KV2_INVALID_PATH_WARNING.format(_CLI_VERB[operation])
        return _Route(
            operation,
            lambda: _Response(404, _envelope(warnings=[warning], mount_type="kv")),
        )

    def _kv2_subroute(
        self, engine: _KVEngine, kind: str, key: str, operation: str, request: _Request
    ) -> _Route | None:
        exists = key in engine.v2
        if kind == "data" and not key.endswith("/"):
            if operation == "read":
                return _Route("read", lambda: self._kv2_read(engine, key, request))
            if operation == "update":
                # The existence check: create for a new key, update for an existing one.
                return _Route(
                    "update" if exists else "create",
                    lambda: self._kv2_write(engine, key, _json_body(request)),
                )
            if operation == "delete":
                return _Route("delete", lambda: self._kv2_delete_latest(engine, key))
            return None
        if kind == "metadata":
            if operation == "list":
                return _Route("list", lambda: self._kv2_list(engine, key))
            if key.endswith("/"):
                return None
            if operation == "read":
                return _Route("read", lambda: self._kv2_metadata_read(engine, key))
            if operation == "update":
                return _Route(
                    "update" if exists else "create",
                    lambda: self._kv2_metadata_write(engine, key, _json_body(request)),
                )
            if operation == "delete":
                return _Route("delete", lambda: self._kv2_metadata_delete(engine, key))
            return None
        if operation == "update" and not key.endswith("/"):
            return _Route(
                "update",
                lambda: self._kv2_versions_op(engine, kind, key, _json_body(request)),
            )
        return None

    def _kv2_config_read(self, engine: _KVEngine) -> _Response:
        data = {
            "cas_required": engine.cas_required,
            "delete_version_after": engine.delete_version_after,
            "max_versions": engine.max_versions,
        }
        return _Response(200, _envelope(data=data, mount_type="kv"))

    def _kv2_config_write(self, engine: _KVEngine, body: JSONDict) -> _Response:
        if "max_versions" in body:
            engine.max_versions = _int_field(body["max_versions"], "max_versions")
        if "cas_required" in body:
            engine.cas_required = _parse_bool(body["cas_required"], field_name="cas_required")
        if "delete_version_after" in body:
            engine.delete_version_after = str(body["delete_version_after"])
        return _Response(204)

    def _version_metadata(self, meta: _V2Key, number: int) -> JSONDict:
        entry = meta.versions[number]
        return {
            "created_time": _rfc3339(entry.created_wall),
            "custom_metadata": dict(meta.custom_metadata)
            if meta.custom_metadata is not None
            else None,
            "deletion_time": _rfc3339(entry.deletion_wall)
            if entry.deletion_wall is not None
            else "",
            "destroyed": entry.destroyed,
            "version": number,
        }

    def _kv2_read(self, engine: _KVEngine, key: str, request: _Request) -> _Response:
        raw_version = request.param("version")
        wanted = _int_field(raw_version, "version") if raw_version not in (None, "") else 0
        meta = engine.v2.get(key)
        if meta is None:
            return _error(404)
        number = wanted if wanted > 0 else meta.current_version
        entry = meta.versions.get(number)
        if entry is None:
            return _error(404)
        body = _envelope(
            data={"data": None, "metadata": self._version_metadata(meta, number)},
            mount_type="kv",
        )
        # A deleted or destroyed version: 404 with the whole envelope, no "errors".
        if entry.deletion_wall is not None or entry.destroyed:
            return _Response(404, body)
        body["data"]["data"] = copy.deepcopy(entry.data)
        return _Response(200, body)

    def _kv2_write(self, engine: _KVEngine, key: str, body: JSONDict) -> _Response:
        data = body.get("data")
        if data is None:
            return _error(400, "no data provided")
        if not isinstance(data, dict):
            return _error(400, "data must be a JSON object")
        options = body.get("options") or {}
        if not isinstance(options, dict):
            return _error(400, "options must be a JSON object")
        meta = engine.v2.get(key)
        current = meta.current_version if meta else 0
        # validateCheckAndSetOption in the KV plugin's path_data.go.
        if "cas" in options:
            try:
                cas = int(options["cas"])
            except (TypeError, ValueError):
                return _error(400, ERR_CAS_PARSE)
            if cas != current:
                return _error(400, ERR_CAS_MISMATCH)
        elif engine.cas_required or (meta is not None and meta.cas_required):
            return _error(400, ERR_CAS_REQUIRED)
        meta = self._v2_add_version(engine, key, copy.deepcopy(data))
        return _Response(
            200,
            _envelope(data=self._version_metadata(meta, meta.current_version), mount_type="kv"),
        )

    def _v2_add_version(self, engine: _KVEngine, key: str, data: JSONDict) -> _V2Key:
        now = self._wall_clock()
        meta = engine.v2.get(key)
        if meta is None:
            meta = engine.v2[key] = _V2Key(created_wall=now, updated_wall=now)
        meta.current_version += 1
        meta.versions[meta.current_version] = _Version(data=data, created_wall=now)
        meta.updated_wall = now
        if meta.oldest_version == 0:
            meta.oldest_version = meta.current_version
        keep = meta.max_versions or engine.max_versions or DEFAULT_KV_MAX_VERSIONS
        for number in sorted(meta.versions):
            if len(meta.versions) <= keep:
                break
            del meta.versions[number]
        meta.oldest_version = min(meta.versions)
        return meta

    def _kv2_delete_latest(self, engine: _KVEngine, key: str) -> _Response:
        meta = engine.v2.get(key)
        if meta is not None:
            entry = meta.versions.get(meta.current_version)
            if entry is not None and entry.deletion_wall is None and not entry.destroyed:
                entry.deletion_wall = self._wall_clock()
        return _Response(204)

    def _kv2_versions_op(self, engine: _KVEngine, kind: str, key: str, body: JSONDict) -> _Response:
        versions = body.get("versions")
        if not isinstance(versions, list) or not versions:
            return _error(400, "no version number provided")
        numbers = [_int_field(v, "versions") for v in versions]
        meta = engine.v2.get(key)
        if meta is None:
            return _Response(204)
        for number in numbers:
            entry = meta.versions.get(number)
            if entry is None:
                continue
            if kind == "delete" and entry.deletion_wall is None and not entry.destroyed:
                entry.deletion_wall = self._wall_clock()
            elif kind == "undelete" and not entry.destroyed:
                entry.deletion_wall = None
            elif kind == "destroy":
                entry.destroyed = True
                entry.data = None
        return _Response(204)

    def _kv2_metadata_read(self, engine: _KVEngine, key: str) -> _Response:
        meta = engine.v2.get(key)
        if meta is None:
            return _error(404)
        versions = {}
        for number in sorted(meta.versions):
            entry = meta.versions[number]
            versions[str(number)] = {
                "created_time": _rfc3339(entry.created_wall),
                "deletion_time": _rfc3339(entry.deletion_wall)
                if entry.deletion_wall is not None
                else "",
                "destroyed": entry.destroyed,
            }
        data = {
            "cas_required": meta.cas_required,
            "created_time": _rfc3339(meta.created_wall),
            "current_version": meta.current_version,
            "custom_metadata": dict(meta.custom_metadata)
            if meta.custom_metadata is not None
            else None,
            "delete_version_after": meta.delete_version_after,
            "max_versions": meta.max_versions,
            "oldest_version": meta.oldest_version,
            "updated_time": _rfc3339(meta.updated_wall),
            "versions": versions,
        }
        return _Response(200, _envelope(data=data, mount_type="kv"))

    def _kv2_metadata_write(self, engine: _KVEngine, key: str, body: JSONDict) -> _Response:
        now = self._wall_clock()
        meta = engine.v2.get(key)
        if meta is None:
            meta = engine.v2[key] = _V2Key(created_wall=now, updated_wall=now)
        if "max_versions" in body:
            meta.max_versions = _int_field(body["max_versions"], "max_versions")
        if "cas_required" in body:
            meta.cas_required = _parse_bool(body["cas_required"], field_name="cas_required")
        if "delete_version_after" in body:
            meta.delete_version_after = str(body["delete_version_after"])
        if "custom_metadata" in body:
            custom = body["custom_metadata"]
            if custom is not None and not (
                isinstance(custom, dict) and all(isinstance(v, str) for v in custom.values())
            ):
                return _error(400, "custom_metadata must be a map of strings")
            meta.custom_metadata = dict(custom) if custom is not None else None
        meta.updated_wall = now
        return _Response(204)

    def _kv2_metadata_delete(self, engine: _KVEngine, key: str) -> _Response:
        engine.v2.pop(key, None)
        return _Response(204)

    def _kv2_list(self, engine: _KVEngine, prefix: str) -> _Response:
        return _list_response(engine.v2.keys(), prefix)

    # ------------------------------------------------------------------ KV v1

    def _kv1_route(self, engine: _KVEngine, key: str, operation: str, request: _Request) -> _Route:
        if operation == "list":
            return _Route("list", lambda: _list_response(engine.v1.keys(), key))
        if operation == "read":
            return _Route("read", lambda: self._kv1_read(engine, key))
        if operation == "update":
            capability = "update" if key in engine.v1 else "create"
            return _Route(capability, lambda: self._kv1_write(engine, key, _json_body(request)))
        if operation == "delete":
            return _Route("delete", lambda: self._kv1_delete(engine, key))
        return _Route(operation, lambda: _error(405))

    def _kv1_read(self, engine: _KVEngine, key: str) -> _Response:
        value = engine.v1.get(key)
        if value is None:
            return _error(404)
        # The passthrough backend reports the mount's default lease on every read.
        return _Response(
            200,
            _envelope(
                data=copy.deepcopy(value),
                lease_duration=SYSTEM_MAX_TTL,
                mount_type="kv",
            ),
        )

    def _kv1_write(self, engine: _KVEngine, key: str, body: JSONDict) -> _Response:
        if not key:
            return _error(400, "missing path")
        if not body:
            return _error(400, "missing data fields")
        engine.v1[key] = copy.deepcopy(body)
        return _Response(204)

    def _kv1_delete(self, engine: _KVEngine, key: str) -> _Response:
        engine.v1.pop(key, None)
        return _Response(204)


# ------------------------------------------------------------------ module helpers


def _operation(request: _Request) -> str | None:
    method = request.method
    if method == "GET":
        return "list" if _query_bool(request, "list") else "read"
    if method == "LIST":
        return "list"
    if method in ("POST", "PUT"):
        return "update"
    if method == "DELETE":
        return "delete"
    if method == "PATCH":
        return "patch"
    return None


def _envelope(
    *,
    data: JSONDict | None = None,
    auth: JSONDict | None = None,
    warnings: list[str] | None = None,
    lease_duration: int = 0,
    mount_type: str = "",
) -> JSONDict:
    """logical.HTTPResponse: the body of every successful logical request."""
    return {
        "request_id": str(uuid.uuid4()),
        "lease_id": "",
        "renewable": False,
        "lease_duration": lease_duration,
        "data": data,
        "wrap_info": None,
        "warnings": warnings,
        "auth": auth,
        "mount_type": mount_type,
    }


def _list_response(keys: Iterable[str], prefix: str) -> _Response:
    children: set[str] = set()
    for key in keys:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        head, sep, _ = rest.partition("/")
        children.add(head + sep)
    if not children:
        # An empty listing is a 404, as for a read (RespondErrorCommon).
        return _error(404)
    return _Response(200, _envelope(data={"keys": sorted(children)}, mount_type="kv"))


def _json_body(request: _Request) -> JSONDict:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except ValueError as exc:
        raise _BadRequest("error parsing JSON") from exc
    if not isinstance(body, dict):
        raise _BadRequest("error parsing JSON")
    return body


def _int_field(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise _BadRequest(f"error converting input {value!r} for field {name!r}")
    try:
        return int(cast(Any, value))
    except (TypeError, ValueError):
        raise _BadRequest(f"error converting input {value!r} for field {name!r}") from None


def _go_duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed CA:TRUE certificate for 127.0.0.1 and localhost, for 2 days."""
    cert_path, key_path = directory / "vault-ca.pem", directory / "vault-key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise TLSUnavailableError(
                "TLS needs the 'cryptography' package or an 'openssl' binary"
            ) from None
        command = [openssl, "req", "-x509", "-nodes", "-days", "2"]
        command += ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        command += ["-keyout", str(key_path), "-out", str(cert_path)]
        command += ["-subj", "/CN=127.0.0.1"]
        command += ["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
        subprocess.run(command, check=True, capture_output=True)
        return cert_path, key_path

    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


# ------------------------------------------------------------------ HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], vault: FakeVault) -> None:
        super().__init__(address, _Handler)
        self.vault = vault
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every keep-alive handler so its thread ends and its socket closes."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request is not news; stay quiet on stderr.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeVault"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without this, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        vault = cast(_HTTPServer, self.server).vault
        response = vault._serve_http(self.command, self.path, self.headers, body)
        if response.disconnect:
            self.close_connection = True
            return
        payload = b"" if response.body is None else json.dumps(response.body).encode() + b"\n"
        self.send_response(response.status)
        self.send_header("Cache-Control", "no-store")
        if response.body is not None:
            # hvac compares this header with "application/json" exactly.
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Any other method reaches the Vault logic, which answers 405 as Vault does.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        # BaseHTTPRequestHandler would print every request line to stderr.
        return

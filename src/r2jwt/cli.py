"""The ``r2jwt`` command: parse, call the library, print.

stdout carries data only (a token, a table, JSON); diagnostics go to stderr. Exit 0 on success,
1 on an operational failure, 2 on a usage error; no traceback unless ``--debug``. Secrets are
read from stdin or a file, never from argv.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TextIO

from r2jwt._version import __version__
from r2jwt.errors import R2JWTError, shown

__all__ = ["main"]

EXAMPLES = """\
examples:
  r2jwt token --mid 123456 --country MX            # JWT_KID / JWT_SECRET from the environment
  r2jwt --source aws-sm://r2/jwt?region=us-east-1 token --ttl 60
  r2jwt keys list --source file:///etc/r2jwt/keys.json
  r2jwt keys add --kid r2-2026-12 --secret-stdin --not-before 2026-12-15T00:00:00Z < new.secret
  r2jwt keys retire --kid r2-2026-11 --at +1h
  r2jwt keys check --warn-before 7d                 # exit 1 when ops must act
  r2jwt decode "$TOKEN" --verify

sources: env:// (default, or $R2JWT_SOURCE), file:///abs/path.json, aws-sm://SECRET_ID,
vault://MOUNT/PATH. Times (T) are RFC 3339 or relative: now, +30m, +1h, +7d.
"""

#: Signer's default refresh_interval, for advice about scheduling a new key.
DEFAULT_REFRESH_INTERVAL = 300.0

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class UsageError(R2JWTError):
    """Raised for a command-line value that cannot be used; exits 2."""

    exit_code = 2


def _say(message: str) -> None:
    """A diagnostic for the person at the terminal; stdout stays for data."""
    sys.stderr.write(f"r2jwt: {message}\n")


# -- argument types ------------------------------------------------------------------------------


def parse_duration(text: str, *, option: str) -> float:
    """``7d``, ``12h``, ``30m``, ``90s`` or plain seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise UsageError(f"{option}: {shown(text)} is not a duration like 90s, 30m, 12h or 7d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_when(text: str, *, now: float, option: str) -> datetime:
    """``now``, ``+30m`` / ``-1h`` relative to now, or an RFC 3339 timestamp with a zone."""
    from r2jwt.keys import parse_time

    text = text.strip()
    if text == "now":
        return datetime.fromtimestamp(math.floor(now), UTC)
    if text[:1] in ("+", "-"):
        seconds = parse_duration(text[1:], option=option)
        sign = 1 if text[0] == "+" else -1
        return datetime.fromtimestamp(math.floor(now), UTC) + timedelta(seconds=sign * seconds)
    try:
        return parse_time(text, field=option)
    except R2JWTError:
        raise UsageError(
            f"{option}: {shown(text)} is not a time; use RFC 3339 (2026-12-15T00:00:00Z), "
            f"now, or +30m / +1h / +7d"
        ) from None


def parse_claims(pairs: Sequence[str]) -> dict[str, Any] | None:
    """``--claim name=text`` (a string) and ``--claim name:=JSON`` (any JSON value)."""
    claims: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--claim: {shown(pair)} must look like name=value or name:=JSON")
        if name.endswith(":"):
            name = name[:-1]
            try:
                claims[name] = json.loads(value)
            except ValueError:
                raise UsageError(f"--claim {name}: the value after := is not JSON") from None
        else:
            claims[name] = value
    return claims or None


# -- commands ------------------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace, out: TextIO) -> int:
    from r2jwt.signer import Signer

    extra = parse_claims(args.claim)
    with Signer(args.source) as signer:
        out.write(signer.mint(mid=args.mid, country=args.country, ttl=args.ttl, extra=extra) + "\n")
    return 0


def _iso(moment: datetime | None) -> str | None:
    from r2jwt.keys import format_time

    return None if moment is None else format_time(moment)


def _load_keyset(args: argparse.Namespace) -> Any:
    return _load(args)[0]


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    """The source's keyset, and the signer's stats view of it."""
    from r2jwt.signer import Signer

    with Signer(args.source) as signer:
        return signer.keyset(), signer.stats()


def cmd_keys_list(args: argparse.Namespace, out: TextIO) -> int:
    keyset = _load_keyset(args)
    now = time.time()
    rows = [
        {
            "kid": key.kid,
            "state": str(keyset.state_of(key.kid, now)),
            "not_before": _iso(key.not_before),
            "not_after": _iso(key.not_after),
        }
        for key in keyset
    ]
    if args.json:
        out.write(json.dumps(rows, indent=2) + "\n")
        return 0
    header = {"kid": "KID", "state": "STATE", "not_before": "NOT_BEFORE", "not_after": "NOT_AFTER"}
    table = [header, *({k: v or "-" for k, v in row.items()} for row in rows)]
    widths = {col: max(len(str(r[col])) for r in table) for col in header}
    for row in table:
        out.write("  ".join(str(row[c]).ljust(widths[c]) for c in header).rstrip() + "\n")
    return 0


def _in_words(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m {rest % 60}s"


def cmd_keys_check(args: argparse.Namespace, out: TextIO) -> int:
    from r2jwt.keys import MIN_SECRET_BYTES

    window = parse_duration(args.warn_before, option="--warn-before")
    now = time.time()
    problems: list[str] = []
    warnings: list[str] = []
    active_kid = None
    try:
        keyset, stats = _load(args)
    except R2JWTError as exc:
        problems.append(f"cannot load the keyset: {exc}")
    else:
        active_kid = stats.active_kid
        active = keyset.active_at(now)
        if active is None:
            problems.append("no key is active; add one with 'r2jwt keys add'")
        else:
            ends_in = active.ends - now
            if ends_in <= window and keyset.active_at(active.ends) is None:
                problems.append(
                    f"active key {active.kid!r} ends at {_iso(active.not_after)} "
                    f"(in {_in_words(ends_in)}) and no key is scheduled to take over; "
                    f"add the next key R2 issued with 'r2jwt keys add'"
                )
        warnings.extend(
            f"key {key.kid!r} has a secret shorter than {MIN_SECRET_BYTES} bytes "
            f"(RFC 7518 section 3.2); ask R2 for a longer one"
            for key in keyset
            if key.short_secret
        )
    ok = not problems
    if args.json:
        result = {"ok": ok, "active_kid": active_kid, "problems": problems, "warnings": warnings}
        out.write(json.dumps(result, indent=2) + "\n")
    else:
        if ok:
            out.write(f"OK: key {active_kid!r} is active" + "".join(f"; {w}" for w in warnings))
        else:
            out.write("CRITICAL: " + "; ".join(problems + warnings))
        out.write("\n")
    return 0 if ok else 1


def _read_secret(args: argparse.Namespace) -> str:
    if args.secret_file is not None:
        try:
            with open(args.secret_file, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--secret-file: cannot read {args.secret_file}: {exc}") from None
    elif sys.stdin.isatty():
        import getpass

        text = getpass.getpass("secret R2 issued (input hidden): ")
    else:
        text = sys.stdin.read()
    secret = text.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise UsageError("the secret is empty; pass it on stdin or in --secret-file")
    return secret


def _writable_source(args: argparse.Namespace) -> Any:
    from r2jwt.sources import open_source

    return open_source(args.source)


def cmd_keys_add(args: argparse.Namespace, out: TextIO) -> int:
    from r2jwt.admin import add_key
    from r2jwt.keys import Key, Secret

    now = time.time()
    not_before = parse_when(args.not_before, now=now, option="--not-before")
    not_after = (
        None
        if args.not_after is None
        else parse_when(args.not_after, now=now, option="--not-after")
    )
    if not args.kid.strip():
        raise UsageError("--kid must not be empty")
    if not_after is not None and not_after <= not_before:
        raise UsageError("--not-after must be later than --not-before")
    key = Key(args.kid, Secret(_read_secret(args)), not_before, not_after)
    source = _writable_source(args)
    try:
        keyset = add_key(source, key)
    finally:
        source.close()
    _say(f"added key {key.kid!r} to {source.name}; it signs from {_iso(not_before)}")
    lead = not_before.timestamp() - now
    replaces = any(k.eligible_at(now) for k in keyset if k.kid != key.kid)
    if replaces and lead < DEFAULT_REFRESH_INTERVAL:
        _say(
            f"note: signers refresh every {DEFAULT_REFRESH_INTERVAL:.0f} s by default, so they "
            f"will switch to {key.kid!r} at different moments over the next "
            f"{DEFAULT_REFRESH_INTERVAL:.0f} s (both keys stay valid meanwhile); for a switch at "
            f"one instant, schedule it at least one refresh interval ahead: --not-before +10m"
        )
    return 0


def cmd_keys_retire(args: argparse.Namespace, out: TextIO) -> int:
    from r2jwt.admin import retire_key

    now = time.time()
    at = parse_when(args.at, now=now, option="--at")
    source = _writable_source(args)
    try:
        keyset = retire_key(source, args.kid, at)
    finally:
        source.close()
    _say(f"key {args.kid!r} in {source.name} stops signing at {_iso(at)}")
    if keyset.active_at(at.timestamp()) is None:
        _say(f"warning: no key will be active from {_iso(at)}; add one with 'r2jwt keys add'")
    return 0


def cmd_keys_remove(args: argparse.Namespace, out: TextIO) -> int:
    from r2jwt.admin import remove_key

    source = _writable_source(args)
    try:
        remove_key(source, args.kid, time.time())
    finally:
        source.close()
    _say(f"removed key {args.kid!r} from {source.name}")
    return 0


def cmd_decode(args: argparse.Namespace, out: TextIO) -> int:
    from r2jwt.jws import decode_unverified

    token = sys.stdin.read().strip() if args.token == "-" else args.token
    try:
        header, claims = decode_unverified(token)
    except ValueError as exc:
        raise UsageError(f"TOKEN is not a JWT: {exc}") from None
    result: dict[str, Any] = {"header": header, "claims": claims}
    if args.verify:
        _verify(token, header, args)
        result["verified"] = True
    out.write(json.dumps(result, indent=2) + "\n")
    return 0


def _verify(token: str, header: dict[str, Any], args: argparse.Namespace) -> None:
    import warnings

    import jwt

    if header.get("alg") != "HS256":
        raise R2JWTError(f"token rejected: alg {header.get('alg')!r} is not HS256")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise R2JWTError("token rejected: its header has no kid")
    key = _load_keyset(args).get(kid)
    if key is None:
        raise R2JWTError(f"token rejected: kid {kid!r} is not in the keyset")
    with warnings.catch_warnings():
        # A short secret is reported by 'r2jwt keys check', not on every decode.
        warnings.simplefilter("ignore", getattr(jwt.warnings, "InsecureKeyLengthWarning", Warning))
        try:
            jwt.decode(
                token, key.secret.encode(), algorithms=["HS256"], options={"require": ["exp"]}
            )
        except jwt.InvalidTokenError as exc:
            raise R2JWTError(f"token rejected: {exc}") from None


# -- parser --------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"r2jwt: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    # --source and --debug are accepted before and after the subcommand; SUPPRESS keeps a
    # subcommand's absent flag from overwriting the one given before it.
    common = _Parser(add_help=False)
    common.add_argument(
        "--source",
        default=argparse.SUPPRESS,
        metavar="URL",
        help="where the keys are (default: $R2JWT_SOURCE, else env://)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log details and show tracebacks",
    )

    parser = _Parser(
        prog="r2jwt",
        description="Sign the HS256 JWTs R2's API expects, and manage the keys that sign them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"r2jwt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = commands.add_parser(
        "token",
        parents=[common],
        help="print a freshly signed token",
        description=("Print a token signed with the active key; nothing else goes to stdout."),
    )
    token.add_argument("--mid", help="merchant id (required by R2's embeddable components)")
    token.add_argument("--country", help="ISO 3166-1 alpha-2 country code, e.g. MX")
    token.add_argument("--ttl", type=_int_arg("--ttl"), default=600, help="lifetime, seconds")
    token.add_argument(
        "--claim",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra claim; NAME=text for a string, NAME:=JSON for any JSON value (repeatable)",
    )
    token.set_defaults(func=cmd_token)

    keys = commands.add_parser("keys", parents=[common], help="list, check and change keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    listing = keys_commands.add_parser("list", parents=[common], help="kid, state and window")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(func=cmd_keys_list)

    check = keys_commands.add_parser(
        "check", parents=[common], help="exit 1 when no key is active or one ends soon unreplaced"
    )
    check.add_argument(
        "--warn-before",
        default="7d",
        metavar="DURATION",
        help="how early to warn that the active key ends (default 7d)",
    )
    check.add_argument("--json", action="store_true", help="print a JSON object")
    check.set_defaults(func=cmd_keys_check)

    add = keys_commands.add_parser("add", parents=[common], help="add a key R2 issued")
    add.add_argument("--kid", required=True, help="the key id R2 issued")
    secret = add.add_mutually_exclusive_group(required=True)
    secret.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")
    secret.add_argument("--secret-file", metavar="PATH", help="read the secret from a file")
    add.add_argument(
        "--not-before",
        default="now",
        metavar="T",
        help="when the key starts signing (default: now)",
    )
    add.add_argument("--not-after", metavar="T", help="when the key stops signing")
    add.set_defaults(func=cmd_keys_add)

    retire = keys_commands.add_parser("retire", parents=[common], help="set a key's not_after")
    retire.add_argument("--kid", required=True)
    retire.add_argument("--at", default="now", metavar="T", help="when it stops (default: now)")
    retire.set_defaults(func=cmd_keys_retire)

    remove = keys_commands.add_parser(
        "remove", parents=[common], help="delete an expired or disabled key"
    )
    remove.add_argument("--kid", required=True)
    remove.set_defaults(func=cmd_keys_remove)

    decode = commands.add_parser(
        "decode", parents=[common], help="show a token's header and claims"
    )
    decode.add_argument("token", metavar="TOKEN", help="the token, or - to read it from stdin")
    decode.add_argument(
        "--verify",
        action="store_true",
        help="check the HS256 signature and exp with the key named by its kid",
    )
    decode.set_defaults(func=cmd_decode)
    return parser


def _int_arg(option: str) -> Any:
    def convert(text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None

    convert.__name__ = option
    return convert


_TIME_OPTIONS = ("--not-before", "--not-after", "--at")


def _join_negative_times(argv: Sequence[str]) -> list[str]:
    """Let ``--at -1h`` mean ``--at=-1h``: argparse would take ``-1h`` for an option."""
    joined = list(argv)
    for i in range(len(joined) - 1, 0, -1):
        if joined[i - 1] in _TIME_OPTIONS and re.match(r"^-\d", joined[i]):
            joined[i - 1 : i + 1] = [f"{joined[i - 1]}={joined[i]}"]
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (the console script exits with it)."""
    args = build_parser().parse_args(_join_negative_times(sys.argv[1:] if argv is None else argv))
    args.source = getattr(args, "source", None)
    args.debug = getattr(args, "debug", False)
    logging.basicConfig(level=logging.WARNING, format="r2jwt: %(message)s", stream=sys.stderr)
    # --debug details r2jwt's own logger only: at DEBUG, SDK loggers (botocore's above all) print
    # request and response bodies, and those hold the secrets.
    if args.debug:
        logging.getLogger("r2jwt").setLevel(logging.DEBUG)
    try:
        code: int = args.func(args, sys.stdout)
        return code
    except R2JWTError as exc:
        if args.debug:
            raise
        sys.stderr.write(f"r2jwt: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        # An unexpected exception is a bug; its message could hold anything, so show the type.
        sys.stderr.write(
            f"r2jwt: internal error ({type(exc).__name__}); run again with --debug for details\n"
        )
        return 1

"""Optional backends stay optional: importing r2jwt or signing from env:// / file:// never
imports boto3, botocore, hvac, requests or httpx, and works when they are not installed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import CANARY

HEAVY = ("boto3", "botocore", "hvac", "requests", "httpx", "jwt", "cryptography")

# Make the optional packages impossible to import, as on a machine with only pyjwt installed.
BLOCK = textwrap.dedent(
    """
    import sys
    BLOCKED = {"boto3", "botocore", "hvac", "requests", "httpx"}
    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None
    sys.meta_path.insert(0, Blocker())
    """
)


def run(code: str, tmp_path: Path) -> dict[str, object]:
    script = (
        BLOCK
        + textwrap.dedent(code)
        + textwrap.dedent(
            f"""
        import json
        print(json.dumps({{"loaded": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
        """
        )
    )
    env = {"JWT_KID": "k1", "JWT_SECRET": CANARY, "KEYS": str(tmp_path / "keys.json")}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_import_and_sign_from_env_loads_no_backend(tmp_path: Path) -> None:
    out = run(
        """
        import r2jwt
        r2jwt.Signer("env://").token(mid="1")
        r2jwt.generate_jwt_token(merchant_id="1", country="MX")
        """,
        tmp_path,
    )
    # Not even PyJWT: r2jwt signs with its own encoder; PyJWT is loaded only to verify.
    assert out["loaded"] == []


def test_sign_from_file_and_cli_token_load_no_backend(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"kid": "f", "secret": CANARY}))
    path.chmod(0o600)
    out = run(
        """
        import os, io, contextlib
        from r2jwt.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["token", "--source", "file://" + os.environ["KEYS"]]) == 0
            assert main(["keys", "list", "--source", "file://" + os.environ["KEYS"]]) == 0
        """,
        tmp_path,
    )
    assert out["loaded"] == []

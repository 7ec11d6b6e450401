"""r2jwt: sign the HS256 JWTs R2's API expects, with keys rotated without downtime.

import r2jwt
signer = r2jwt.Signer("aws-sm://r2/jwt")      # or env://, file:///…, vault://…
headers = {"Authorization": f"Bearer {signer.token(mid='123456', country='MX')}"}
"""

from r2jwt._version import __version__
from r2jwt.compat import generate_jwt_token
from r2jwt.errors import (
    ClaimsError,
    ConfigurationError,
    KeySetError,
    MissingExtraError,
    NoActiveKeyError,
    R2JWTError,
    SourceError,
    SourceNotFoundError,
    SourceURLError,
    StaleKeySetError,
    WriteConflictError,
)
from r2jwt.keys import Key, KeySet, KeyState, Secret
from r2jwt.signer import Signer, SignerStats
from r2jwt.sources import Document, Source, open_source

__all__ = [
    "ClaimsError",
    "ConfigurationError",
    "Document",
    "Key",
    "KeySet",
    "KeySetError",
    "KeyState",
    "MissingExtraError",
    "NoActiveKeyError",
    "R2JWTError",
    "Secret",
    "Signer",
    "SignerStats",
    "Source",
    "SourceError",
    "SourceNotFoundError",
    "SourceURLError",
    "StaleKeySetError",
    "WriteConflictError",
    "__version__",
    "generate_jwt_token",
    "open_source",
]

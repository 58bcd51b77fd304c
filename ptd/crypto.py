"""Encryption at rest for integration credentials.

The Fernet key is derived from SECRET_KEY (and SECRET_KEY_FALLBACKS, so a rotated key can still
decrypt until the credentials are saved again).
"""

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


def _fernet_for(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ptd-credentials", info=b"fernet").derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _cipher() -> MultiFernet:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet_for(s) for s in secrets])


def encrypt(plaintext: str) -> str:
    return _cipher().encrypt(plaintext.encode()).decode()


class UndecryptableCredential(Exception):
    """The stored value was encrypted with a SECRET_KEY this server no longer has."""


def decrypt(token: str) -> str:
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise UndecryptableCredential("credential was encrypted with another SECRET_KEY; enter it again") from exc


def mask(value: str) -> str:
    """Show only enough to recognise a secret: its last four characters."""
    if not value:
        return ""
    if len(value) <= 8:
        return "•" * len(value)
    return "•" * 8 + value[-4:]

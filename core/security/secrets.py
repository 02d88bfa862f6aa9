"""Provider credentials encrypted at rest (Fernet), with the key kept outside the database.

The key comes from EXPENSIS_SECRET_KEY when set, else from the key file
(`Settings.key_file`), which is created on first use with 0600 permissions. A key
file that group or others can access is refused, as ssh refuses such a private key.
Credentials are never logged or shown in clear: `SecretBox.mask` is for display.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from core.config import Settings

KEY_ENV = "EXPENSIS_SECRET_KEY"
MASK = "****"


class SecretError(Exception):
    """The key cannot be used, or a token cannot be decrypted with it; safe to show."""


class SecretBox:
    """Encrypts and decrypts a credentials mapping (str → str) with one Fernet key."""

    def __init__(self, key: bytes | str, *, source: str = "the secret key") -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise SecretError(
                f"{source} is not a valid Fernet key (32 url-safe base64-encoded bytes)"
            ) from exc
        self.source = source

    def __repr__(self) -> str:
        return f"SecretBox(source={self.source!r})"

    @staticmethod
    def generate_key() -> bytes:
        return Fernet.generate_key()

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> SecretBox:
        """The box for this installation: EXPENSIS_SECRET_KEY, else the key file."""
        env = os.environ if environ is None else environ
        key = env.get(KEY_ENV, "").strip()
        if key:
            return cls(key, source=KEY_ENV)
        path = settings.key_file
        return cls(load_or_create_key_file(path), source=f"key file {path}")

    def encrypt(self, credentials: Mapping[str, str]) -> bytes:
        plain = json.dumps(dict(credentials), sort_keys=True, separators=(",", ":"))
        return self._fernet.encrypt(plain.encode("utf-8"))

    def decrypt(self, token: bytes) -> dict[str, str]:
        try:
            plain = self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise SecretError(
                "credentials cannot be decrypted with this key "
                "(was EXPENSIS_SECRET_KEY or the key file changed?)"
            ) from exc
        loaded = json.loads(plain.decode("utf-8"))
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
        ):
            raise SecretError("decrypted credentials are not a table of strings")
        return {str(k): str(v) for k, v in loaded.items()}

    @staticmethod
    def mask(credentials: Mapping[str, str]) -> dict[str, str]:
        """The same keys with every value hidden, for display."""
        return dict.fromkeys(credentials, MASK)


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file, creating it (0600, parent directories too) when missing."""
    if not path.exists():
        _create_key_file(path)
    _check_permissions(path)
    try:
        return path.read_bytes().strip()
    except OSError as exc:
        raise SecretError(f"key file {path} cannot be read: {exc.strerror}") from exc


def _create_key_file(path: Path) -> None:
    """Write a fresh key atomically; when another process wins the race, keep its key."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".secret-", dir=path.parent)  # mode 0600
    except OSError as exc:
        raise SecretError(f"key file {path} cannot be created: {exc.strerror}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key() + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):  # another process won: never replace a key
            os.link(tmp, path)
    except OSError as exc:
        raise SecretError(f"key file {path} cannot be created: {exc.strerror}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _check_permissions(path: Path) -> None:
    if os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretError(
            f"key file {path} is accessible by group or others (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )

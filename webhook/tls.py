"""Server TLS from certificate files, reloaded when the files change.

Mounted Kubernetes Secrets are swapped through symlinks and raise no inotify event on
the files themselves, so the files are re-hashed on an interval. A new pair is read once
(both files), loaded into a fresh context first, and only when that works (the key
matches the certificate, both parse) loaded into the serving context, which every new
handshake then uses. A half-written or mismatched pair never reaches the serving
context: the last good pair keeps serving, and the pair is tried again when the files
change again (putting the previous good pair back needs no reload at all).
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import tempfile
from pathlib import Path
from typing import Literal

log = logging.getLogger("ddcompat.webhook.tls")

Result = Literal["loaded", "rejected", "unreadable"]
RESULTS: tuple[Result, ...] = ("loaded", "rejected", "unreadable")
# Private key material is written here for the moment OpenSSL reads it (memory-backed
# where the system has it).
_SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None


def _digest(cert: bytes, key: bytes) -> str:
    return hashlib.sha256(cert + b"\0" + key).hexdigest()


def _new_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _load(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Load a pair given as bytes (the bytes that were hashed: no second read of files
    that may be changing)."""
    with tempfile.TemporaryDirectory(dir=_SCRATCH, prefix="ddcompat-tls-") as tmp:
        c, k = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
        c.write_bytes(cert)
        fd = os.open(k, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        ctx.load_cert_chain(c, k)


class CertReloader:
    """Owns the server ``SSLContext`` (TLS 1.2 or newer) and keeps it current."""

    def __init__(self, cert: Path, key: Path, *, interval: float = 10.0) -> None:
        self.cert, self.key, self.interval = Path(cert), Path(key), interval
        cert_b, key_b = self._read()
        self.context = _new_context()
        _load(self.context, cert_b, key_b)
        self.digest = _digest(cert_b, key_b)
        self._good = (cert_b, key_b)
        self._tried: str | None = None  # the last pair refused (not tried again)
        self._unreadable = False
        self.reloads = 0

    def _read(self) -> tuple[bytes, bytes]:
        return self.cert.read_bytes(), self.key.read_bytes()

    def check(self) -> Result | None:
        """Swap in the pair on disk if it changed and works; what happened (None: the
        files did not change, or changed to a pair already refused)."""
        try:
            cert_b, key_b = self._read()
        except OSError as exc:
            if self._unreadable:
                return None
            self._unreadable = True
            log.warning("cannot read TLS files (%s); keeping the current pair", exc)
            return "unreadable"
        self._unreadable = False
        digest = _digest(cert_b, key_b)
        if digest in (self.digest, self._tried):
            return None
        try:
            _load(_new_context(), cert_b, key_b)  # a trial: the serving context is untouched
        except (ssl.SSLError, ValueError, OSError) as exc:
            self._tried = digest
            log.warning("new TLS pair refused (%s); the last good pair keeps serving", exc)
            return "rejected"
        try:
            _load(self.context, cert_b, key_b)
        except (ssl.SSLError, ValueError, OSError) as exc:  # pragma: no cover - trial passed
            _load(self.context, *self._good)
            self._tried = digest
            log.warning("new TLS pair refused (%s); the last good pair keeps serving", exc)
            return "rejected"
        self.digest, self._good, self._tried = digest, (cert_b, key_b), None
        self.reloads += 1
        log.info("TLS certificate reloaded from %s", self.cert)
        return "loaded"

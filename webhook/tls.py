"""Server TLS from certificate files, reloaded when the files change.

Mounted Kubernetes Secrets are swapped through symlinks and raise no inotify event on
the files themselves, so the files are re-hashed on an interval; when the hash changes
the same ``SSLContext`` loads the new pair, which every new handshake then uses.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from pathlib import Path

log = logging.getLogger("ddcompat.webhook.tls")


def _digest(cert: Path, key: Path) -> str:
    h = hashlib.sha256()
    for p in (cert, key):
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


class CertReloader:
    """Owns the server ``SSLContext`` (TLS 1.2 or newer) and keeps it current."""

    def __init__(self, cert: Path, key: Path, *, interval: float = 10.0) -> None:
        self.cert, self.key, self.interval = Path(cert), Path(key), interval
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(self.cert, self.key)
        self.digest = _digest(self.cert, self.key)
        self.reloads = 0

    def check(self) -> bool:
        """Reload if the files changed; True when a new pair was loaded.

        A half-written or mismatched pair is logged and retried at the next check; the
        previous pair stays in use meanwhile.
        """
        try:
            digest = _digest(self.cert, self.key)
        except OSError as exc:
            log.warning("cannot read TLS files: %s", exc)
            return False
        if digest == self.digest:
            return False
        try:
            self.context.load_cert_chain(self.cert, self.key)
        except (ssl.SSLError, OSError) as exc:
            log.warning("new TLS pair not loaded yet (%s); keeping the previous one", exc)
            return False
        self.digest = digest
        self.reloads += 1
        log.info("TLS certificate reloaded from %s", self.cert)
        return True

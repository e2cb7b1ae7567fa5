"""Digests for psyq's cache keys and file names, cheap to load at start-up.

``import hashlib`` loads OpenSSL's ``_hashlib`` (about 2.5 ms) even when only
BLAKE2 is asked for, and the definition and entry-point caches are read by
every command. BLAKE2b is hashlib's own built-in module, ``_blake2``, which
every CPython has; hashlib's copy is used where it is missing.

Only caches use this. A definition's content hash (``sha256:...``, stored with
every result) keeps SHA-256 and loads hashlib when it is computed.
"""

from __future__ import annotations

try:
    from _blake2 import blake2b
except ImportError:  # an interpreter without CPython's built-in module
    from hashlib import blake2b

__all__ = ["blake2b", "hex_digest"]


def hex_digest(data: bytes) -> str:
    """A 64-character hex BLAKE2b digest of ``data`` (for names and fingerprints)."""
    return blake2b(data, digest_size=32).hexdigest()

"""Writing files so that nobody ever sees half of one.

Every output psyq writes (reports, exports, batch results, manifests) goes
through :func:`write_atomic`: the bytes land under a temporary name in the
same folder, then one rename puts them in place. A crash or a full disk
leaves the old file or no file, never a truncated one.
"""

from __future__ import annotations

import os
from pathlib import Path

TMP_SUFFIX = ".psyq-tmp"
"""Temporary files end in this, so a resumed run can sweep up a crashed one's."""


def write_atomic(path: Path, data: bytes, *, private: bool = False, durable: bool = False) -> None:
    """Write ``data`` to ``path`` atomically.

    ``private`` creates the file readable and writable by its owner only
    (0600), for anything holding client data that should not follow the
    umask. ``durable`` fsyncs the bytes before the rename, for files a
    resumed run relies on. Raises ``OSError``; the temporary file is removed.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

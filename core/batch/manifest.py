"""The batch manifest: an append-only JSONL file recording finished chunks.

The first line describes the run (input digest, instrument hash, formats,
chunk size); every later line is one finished chunk, as its worker encoded
it: its ``scores.csv`` and ``errors.csv`` lines and its cohort statistics
(a range-reading worker's scores lines are in a part file the line names
with its SHA-256 instead; see :meth:`Manifest.check_parts`).
A chunk's report files are renamed into place before its line is appended
and fsynced, so a line in the manifest means every file of that chunk is
whole. After ``kill -9`` the last line may be torn: it is dropped (and cut
off the file) on resume, and its chunk simply runs again.

``scores.csv``, ``errors.csv`` and the summaries are rebuilt from the
manifest in chunk (so row) order, so a resumed run never duplicates a row.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from psyq.batch.worker import ChunkResult, part_name
from psyq.errors import PsyqError
from psyq.files import write_atomic

MANIFEST_NAME = "batch-manifest.jsonl"
MANIFEST_VERSION = 1


class ManifestError(PsyqError):
    """The manifest in DIR does not belong to this input, or cannot be read."""


class Manifest:
    """Open manifest of one batch directory."""

    def __init__(self, path: Path, header: dict[str, Any], done: dict[int, int]) -> None:
        self.path = path
        self.header = header
        self._offsets = done  # chunk index -> byte offset of its line
        self._fh: IO[bytes] = os.fdopen(_open_own(path, os.O_WRONLY | os.O_APPEND), "ab")

    # -- creating and opening ------------------------------------------------

    @classmethod
    def create(cls, path: Path, header: dict[str, Any]) -> Manifest:
        line = json.dumps({"psyq_batch": MANIFEST_VERSION, **header}, sort_keys=True)
        write_atomic(path, line.encode() + b"\n", durable=True)
        return cls(path, header, {})

    @classmethod
    def resume(cls, path: Path, header: dict[str, Any]) -> Manifest:
        """Open an existing manifest, checking it matches ``header`` key by key.

        The returned manifest's header is the one on disk (its chunk size and
        start time win over this run's).
        """
        theirs, offsets, good_end = _scan(path)
        # A manifest from before chunks could be line ranges cut chunks of rows.
        theirs.setdefault("chunks_of", "rows")
        mismatched = [k for k in header if theirs.get(k) != header[k]]
        if mismatched:
            raise ManifestError(
                f"{path}: this directory holds a batch of a different "
                f"{', '.join(mismatched)}; use --force to start over in it"
            )
        with os.fdopen(_open_own(path, os.O_RDWR), "r+b") as fh:  # drop a line torn by kill -9
            fh.truncate(good_end)
        return cls(path, theirs, offsets)

    def check_parts(self, folder: Path) -> list[int]:
        """Forget the chunks whose scores part file in ``folder`` is missing or not the
        one their line names (SHA-256), so they run again; their indexes, in order.

        A later line for the same chunk (its rerun) wins when the manifest is read.
        """
        redo = []
        with self.path.open("rb") as fh:
            for index in sorted(self._offsets):
                fh.seek(self._offsets[index])
                chunk = json.loads(fh.readline())
                name = chunk.get("scores_part")
                if name is None:
                    continue
                # Only the name a worker gives chunk ``index``: never a path elsewhere.
                if name != part_name(index) or _sha256(folder / name) != chunk.get("scores_sha256"):
                    redo.append(index)
        for index in redo:
            del self._offsets[index]
        return redo

    # -- writing ---------------------------------------------------------------

    @property
    def done(self) -> set[int]:
        return set(self._offsets)

    def append(self, result: ChunkResult) -> None:
        """Record a finished chunk durably (its files must already be in place)."""
        self._fh.seek(0, os.SEEK_END)
        offset = self._fh.tell()
        self._fh.write(result.record + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._offsets[result.index] = offset

    def close(self) -> None:
        self._fh.close()

    # -- reading ---------------------------------------------------------------

    def chunks(self) -> Iterator[dict[str, Any]]:
        """Every finished chunk in order, one in memory at a time."""
        with self.path.open("rb") as fh:
            for index in sorted(self._offsets):
                fh.seek(self._offsets[index])
                chunk: dict[str, Any] = json.loads(fh.readline())
                yield chunk


def _open_own(path: Path, flags: int) -> int:
    """Open the manifest to write into it: never through a link, and only a file of
    psyq's own (it holds every row's scores), made 0600 if a copy loosened it.

    In a shared output folder someone could swap it for a link (or a hard link) to a
    file of theirs that ``--resume`` would then append client rows to.
    """
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        why = "it is a link" if path.is_symlink() else (exc.strerror or str(exc))
        raise ManifestError(
            f"{path}: cannot write the batch manifest ({why}); use --force to start over"
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_uid != os.getuid():
        os.close(fd)
        raise ManifestError(
            f"{path}: not a batch manifest of psyq's own (a link, or another owner's "
            "file); use --force to start over"
        )
    if info.st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def _sha256(path: Path) -> str | None:
    """The file's SHA-256 (hex), or None when it cannot be read."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _scan(path: Path) -> tuple[dict[str, Any], dict[int, int], int]:
    offsets: dict[int, int] = {}
    header: dict[str, Any] | None = None
    good_end = 0
    with path.open("rb") as fh:
        offset = 0
        for number, line in enumerate(fh, 1):
            try:
                obj = json.loads(line) if line.endswith(b"\n") else None
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                break  # a torn last line; anything after it is not trusted either
            if header is None:
                if obj.get("psyq_batch") != MANIFEST_VERSION:
                    raise ManifestError(f"{path}: not a psyq batch manifest")
                header = obj
            elif _is_chunk(obj):
                offsets[obj["chunk"]] = offset
            else:  # whole JSON, so not torn: edited or damaged; resuming on it would crash
                raise ManifestError(
                    f"{path}:{number}: not a finished chunk as psyq writes one; delete that "
                    "line and those after it (their chunks run again), or use --force to "
                    "start over"
                )
            offset += len(line)
            good_end = offset
    if header is None:
        raise ManifestError(f"{path}: the manifest is empty; use --force to start over")
    return header, offsets, good_end


def _is_chunk(obj: dict[str, Any]) -> bool:
    """Whether a manifest line has what resuming and finishing read from a chunk."""
    index = obj.get("chunk")
    scores_ok = (
        isinstance(obj.get("scores_part"), str) and isinstance(obj.get("scores_sha256"), str)
        if "scores_part" in obj
        else isinstance(obj.get("scores"), str)
    )
    cohort = obj.get("cohort")
    return (
        type(index) is int
        and index >= 0
        and scores_ok
        and isinstance(obj.get("errors"), str)
        and isinstance(cohort, dict)
        and all(type(cohort.get(k)) is int for k in _COHORT_COUNTS)
        and isinstance(cohort.get("bands"), dict)
        and isinstance(cohort.get("totals"), list)
        and isinstance(cohort.get("listed"), list)
    )


_COHORT_COUNTS = ("rows", "scored", "failed", "flagged_count")

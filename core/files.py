"""Writing files so that nobody ever sees half of one, and nobody else can read them.

Every output psyq writes (reports, exports, batch results, manifests) goes
through :func:`write_atomic` or :func:`atomic_file`: the bytes land in a
temporary file in the same folder, are fsynced, then one rename puts them in
place. A crash or a full disk leaves the old file or no file, never a
truncated one.

The temporary file has an unpredictable name (``.NAME.<random>.psyq-tmp``)
and is created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600 from the
first instant, so in a shared folder nobody can plant a symlink or a
world-readable file under the name psyq is about to write, and nobody can
open it while it is being written. Folders psyq creates for client data are
0700 (:func:`private_dir`), whatever the umask.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from psyq.errors import PsyqError

TMP_SUFFIX = ".psyq-tmp"
"""Temporary files end in this, so a resumed run can sweep up a crashed one's."""

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def temporary_name(path: Path) -> Path:
    """An unpredictable sibling name for ``path``: ``.NAME.<128 random bits>.psyq-tmp``."""
    return path.with_name(f".{path.name}.{os.urandom(16).hex()}{TMP_SUFFIX}")


def create_private(path: Path) -> int:
    """Create ``path`` exclusively (never through a link), mode 0600; return the fd."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        # O_CREAT's mode is masked by the umask (which can only remove bits); fchmod
        # on the descriptor makes it exactly 0600 without a window or a path lookup.
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return fd


@contextmanager
def atomic_file(path: Path, *, durable: bool = True, synced: bool = True) -> Iterator[IO[bytes]]:
    """A binary file that appears at ``path`` (0600) only when the block succeeds.

    ``durable`` also fsyncs the folder after the rename, for files a resumed
    run relies on. The data is fsynced before the rename unless ``synced`` is
    False, for a note whose loss in a crash costs nothing but the note.
    """
    tmp = temporary_name(path)
    fd = create_private(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            if synced:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_atomic(
    path: Path, data: bytes, *, private: bool = True, durable: bool = False, synced: bool = True
) -> None:
    """Write ``data`` to ``path`` atomically, readable and writable by its owner only.

    ``private`` is kept for callers written before every output became
    private; it no longer changes anything (every psyq output may hold client
    data). ``durable`` fsyncs the folder after the rename; ``synced=False`` skips
    the fsync of the data (:func:`atomic_file`). Raises ``OSError``; the
    temporary file is removed.
    """
    with atomic_file(path, durable=durable, synced=synced) as fh:
        fh.write(data)


class OutputExists(PsyqError):
    """An output file the user named is there already and ``--force`` was not given."""


def refuse_existing(path: Path, force: bool, *, client_data: bool = True) -> None:
    """Refuse ``path`` (a file the user named with ``-o``) if something is there, unless
    ``force``: checked before the work, so a long run is not wasted on a name in use.
    A link counts as there, dangling or not. For ``client_data``, its folder is checked
    too (:func:`check_output_folder`)."""
    if not force and os.path.lexists(path):
        raise OutputExists(f"{path} exists; choose another name or pass --force")
    if client_data:
        check_output_folder(path)  # a folder others could swap the file in: refused now


def write_output(path: Path, data: bytes, *, force: bool, client_data: bool = True) -> None:
    """Write a file the user named (``-o FILE``): private (0600) and atomic, as
    :func:`write_atomic`, and never in place of a file that is there unless ``force``.

    Without ``force`` the finished temporary file is hard-linked into place, which
    fails if the name was taken meanwhile (no window between a check and the
    write); where the file system has no hard links, the name is checked instead
    just before the rename. Raises :class:`OutputExists` (the old file is left as
    it was) or ``OSError``; the temporary file is removed either way. The folder is
    the user's and is left as it is; for ``client_data`` (not an instrument definition
    or simulated answers) :func:`check_output_folder` refuses one others could swap
    the file in, and one line on stderr says when others can list it.
    """
    refuse_existing(path, force, client_data=client_data)
    note = check_output_folder(path) if client_data else None
    if force:
        write_atomic(path, data)
    else:
        _link_new(path, data)
    if note is not None:
        import click  # every command that names an output file runs under click

        click.echo(f"psyq: warning: {note}", err=True)


def _link_new(path: Path, data: bytes) -> None:
    tmp = _synced_temporary(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        refuse_existing(path, force=False, client_data=False)
        raise
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        refuse_existing(path, force=False, client_data=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}
)
"""What ``link`` raises on file systems without hard links (FAT, some network mounts)."""


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700 folders (existing ones are left)."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:
            continue  # made meanwhile by another process; its mode is its creator's
        # mkdir's mode is masked by the umask. Set through a descriptor opened without
        # following a link: a folder swapped for a link meanwhile is refused (ELOOP),
        # and the mode of whatever the link points to is never changed.
        fd = os.open(folder, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
        try:
            os.fchmod(fd, PRIVATE_DIR)
        finally:
            os.close(fd)
    return path


class SharedFolder(PsyqError):
    """A folder psyq is to fill with client files is open to others, or not the user's own."""


def private_folder(path: Path, *, check_only: bool = False) -> list[str]:
    """Make ``path`` a folder only its owner can open, before psyq fills it with client
    files (a batch's reports are named by client id, so even a listing discloses).

    Missing: created 0700 (:func:`private_dir`). The user's own folder that others can
    open (``mkdir`` under umask 022 makes it 0755): made 0700, and one line saying so
    is returned for the caller to show. Someone else's folder (root's batch into a
    clinician's), or one shared by design (sticky, as ``/tmp``): :class:`SharedFolder`,
    as psyq cannot make it private or its files would not be the folder owner's. A
    link the user gave is followed; the folder is changed through its descriptor, so
    it cannot be swapped between the check and the change.
    ``check_only`` raises as above but creates and changes nothing (for a check before
    the work starts, which must leave the folder as it was if the work cannot start).
    """
    if not os.path.lexists(path):
        if check_only:
            return []
        private_dir(path)  # then checked as any other: someone may have made it first
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError:
        return []  # not a folder, or unreadable: the caller's own checks say so
    try:
        info = os.fstat(fd)
        mode = stat.S_IMODE(info.st_mode)
        if stat.S_ISDIR(info.st_mode) and info.st_uid != os.getuid() and not mode & 0o077:
            # Private, but someone else's (root running a batch into a clinician's
            # folder): the reports would be root's, unreadable to the folder's owner.
            raise belongs_to_another(path, info.st_uid, "the folder")
        if not stat.S_ISDIR(info.st_mode) or not mode & 0o077:
            return []
        if info.st_uid != os.getuid() or mode & stat.S_ISVTX:
            whose = "a shared folder" if mode & stat.S_ISVTX else "another user's folder"
            raise SharedFolder(
                f"{path}: {whose} that others can open (mode {mode:04o}); psyq writes "
                "client files only into a folder of your own: name a new one (psyq "
                "creates it, 0700)"
            )
        if check_only:
            return []
        os.fchmod(fd, PRIVATE_DIR)
    finally:
        os.close(fd)
    return [f"{path}: others could open this folder (mode {mode:04o}); made it 0700"]


def _user_name(uid: int) -> str | None:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def belongs_to_another(path: Path, owner: int, what: str) -> SharedFolder:
    """One line refusing ``what`` at ``path``, which belongs to ``owner``, not the user."""
    name = _user_name(owner)
    me = _user_name(os.getuid())
    who = f"{name} (uid {owner})" if name else f"uid {owner}"
    you = f"{me} (uid {os.getuid()})" if me else f"uid {os.getuid()}"
    run_as = f"run psyq as {name} (sudo -u {name} psyq ...)" if name else "run psyq as its owner"
    return SharedFolder(
        f"{path}: {what} belongs to {who}, not to you ({you}); files psyq made there "
        f"would be yours, not its owner's: {run_as}"
    )


def data_folder(path: Path) -> list[str]:
    """Make ``path``, psyq's own data folder (``$PSYQ_HOME``: the store, its keys), a
    folder only its owner can open, before psyq keeps client data in it.

    Missing: created 0700. The user's own folder that others can open or write (made
    by ``mkdir`` under umask 022, or ``chmod 777``): made 0700 through its descriptor,
    and one line saying so is returned for the caller to show (the user asked psyq to
    keep client data there). Another user's folder (``sudo psyq`` with ``PSYQ_HOME`` in
    someone's home): :class:`SharedFolder`, as files root made there would be root's,
    unreadable to their owner, and the audit log would name root for the clinician's
    work. A link is followed (a data folder on an encrypted volume); the folder it
    names is the one checked and changed.
    """
    if not os.path.lexists(path):
        private_dir(path)
    try:
        fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError as exc:
        why = "it is not a folder" if exc.errno == errno.ENOTDIR else exc.strerror or str(exc)
        raise SharedFolder(f"{path}: cannot use psyq's data folder: {why}") from None
    try:
        info = os.fstat(fd)
        if info.st_uid != os.getuid():
            raise belongs_to_another(path, info.st_uid, "psyq's data folder")
        mode = stat.S_IMODE(info.st_mode)
        if not mode & 0o077:
            return []
        os.fchmod(fd, PRIVATE_DIR)
    finally:
        os.close(fd)
    return [f"{path}: others could open psyq's data folder (mode {mode:04o}); made it 0700"]


def check_output_folder(path: Path) -> str | None:
    """Check the folder a file the user named (``-o FILE``, ``--db FILE``) goes into,
    without changing it (it is the user's, and may hold other things).

    Refused (:class:`SharedFolder`): another user's folder (root's excepted, as
    ``/tmp``: root can read everything anyway), and one others can write without the
    sticky bit (they could rename psyq's file away and put their own in its place).
    Returns one line to show when others can list it (the file is 0600, its name,
    often a client's, is not), else ``None``. A folder that cannot be opened is left
    to the write to report.
    """
    folder = Path(os.path.abspath(path)).parent  # `-o r.pdf`: named, not "."
    try:
        fd = os.open(folder, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
    finally:
        os.close(fd)
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid not in (os.getuid(), 0):
        raise belongs_to_another(folder, info.st_uid, "the folder")
    if mode & 0o022 and not mode & stat.S_ISVTX:
        raise SharedFolder(
            f"{folder}: others can write in this folder (mode {mode:04o}), so they could "
            f"swap {path.name} for a file of their own: write it into a folder of your own"
        )
    if mode & 0o044:
        return (
            f"{folder}: others can list this folder (mode {mode:04o}); {path.name} itself "
            "is private (0600), but its name is not"
        )
    return None


def create_private_once(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new private file at ``path`` (0600, its folder 0700): in full
    under a temporary name, synced, then linked into place, so a racing process never
    reads half of it and an existing file is never replaced. False if ``path`` was
    there already (left as it is); ``OSError`` if it cannot be written."""
    private_dir(path.parent)
    tmp = _synced_temporary(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _synced_temporary(path: Path, data: bytes) -> Path:
    """A new private temporary file beside ``path`` holding ``data``, synced: its name."""
    tmp = temporary_name(path)
    fd = create_private(tmp)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def read_private(path: Path, limit: int = 1024) -> tuple[bytes, int]:
    """Up to ``limit`` bytes of the file at ``path`` (a key), and its permission bits
    (for the caller to refuse a file others can read).

    Only a regular file of the user's own is read: never through a link, never a FIFO
    or a device (opened without waiting, so a FIFO planted there cannot hang psyq),
    never another user's file (a key someone else put there is a key they know).
    ``OSError`` otherwise: ``FileNotFoundError``, ``ELOOP`` for a link, ``EPERM``
    with a ``strerror`` saying why for the rest.
    """
    fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EPERM, "it is not a regular file", str(path))
        if info.st_uid != os.getuid():
            raise OSError(errno.EPERM, f"it belongs to another user (uid {info.st_uid})", str(path))
        return fh.read(limit), info.st_mode & 0o777


def _read_up_to(fh: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    while size > 0:
        chunk = fh.read(min(size, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


class WriteError(PsyqError):
    """A file psyq had to write could not be written (disk full, read-only, no folder)."""

    exit_code = 1


_WHY = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder",
    errno.EEXIST: "it exists and is not a folder",
    errno.ENAMETOOLONG: "the name is too long",
}
PATH_ERRNOS = frozenset(
    {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG}
)
"""Errors in a path the user gave (a usage mistake, exit 2), not in the machine's state."""


def write_error(exc: OSError, path: Path | str | None = None, hint: str = "") -> WriteError:
    """One line for an ``OSError`` met while writing: the file, why, and what to do."""
    name = exc.filename if exc.filename is not None else path
    if isinstance(name, str | Path) and TMP_SUFFIX in str(name) and path is not None:
        name = path  # name the file the user asked for, not psyq's temporary one
    why = _WHY.get(exc.errno or 0, exc.strerror or str(exc))
    error = WriteError(f"{name}: cannot write: {why}{hint}")
    if exc.errno in PATH_ERRNOS:
        error.exit_code = 2  # a path the user gave: a usage mistake
    return error


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n} bytes"


def read_limited(path: Path, limit: int, what: str, error: type[PsyqError] = PsyqError) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes; else ``error``.

    Devices (``/dev/zero``), FIFOs and folders are refused before reading (a FIFO
    is opened non-blocking, so nobody waits for a writer), and the size is
    checked both before and while reading, so no input can exhaust memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _O_CLOEXEC)
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = (
            "a folder"
            if stat.S_ISDIR(info.st_mode)
            else "a FIFO"
            if stat.S_ISFIFO(info.st_mode)
            else "a device or socket"
        )
        raise error(f"{path}: {kind}, not a regular file; give {what} as a file")
    with os.fdopen(fd, "rb", buffering=0) as fh:
        if info.st_size > limit:
            raise error(
                f"{path}: file is {info.st_size} bytes, larger than the {_size(limit)} "
                f"{what} is limited to"
            )
        try:
            data = _read_up_to(fh, limit + 1)
        except OSError as exc:
            raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(data) > limit:  # grew while being read
        raise error(f"{path}: larger than the {_size(limit)} {what} is limited to")
    return data


def fsync_dir(folder: Path) -> None:
    """Make renames in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename still happened
    finally:
        os.close(fd)

"""The application object every command receives as ``click`` context ``obj``."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

from psyq.errors import DefinitionError, PsyqError, UnknownInstrumentError
from psyq.manager import PsyqPluginManager
from psyq.paths import data_dir
from psyq.registry import InstrumentRegistry

if TYPE_CHECKING:
    from psyq.models import Instrument
    from psyq.scoring import Scorer
    from psyq.store import Administration, Store, StoredDefinition


class App:
    """Plugin manager plus the lazily built services commands need."""

    def __init__(self, pm: PsyqPluginManager, home: Path | None = None) -> None:
        self.pm = pm
        self._kept_copies: dict[str, Instrument | None] = {}
        self._home = home
        self.db_path: Path | None = None
        self.audit_key_path: Path | None = None
        self._home_checked = False

    @property
    def home(self) -> Path:
        return self._home if self._home is not None else data_dir()

    @cached_property
    def loaded_registry(self) -> InstrumentRegistry:
        """The registry, loaded; its ``problems`` not yet reported (`psyq validate` lists them)."""
        registry = InstrumentRegistry(self.pm, overlay_dir=lambda: self.home / "overlays")
        registry.ids()
        return registry

    @cached_property
    def registry(self) -> InstrumentRegistry:
        registry = self.loaded_registry  # loaded now so problems are reported once, up front
        for problem in registry.problems:
            # A warning, or with PSYQ_STRICT_PLUGINS=1 an error.
            self.pm.problem(f"skipped instrument file: {problem}", DefinitionError)
        for problem in registry.overlay_problems:
            self.pm.problem(f"licensed-text overlay not used: {problem}", DefinitionError)
        return registry

    @cached_property
    def scorer(self) -> Scorer:
        from psyq.scoring import Scorer  # `psyq list` and `psyq show` score nothing

        return Scorer(self.pm)

    def instrument(self, instrument_id: str) -> Instrument:
        return self.registry.get(instrument_id)

    def origin(self, instrument_id: str) -> tuple[str, str | None] | None:
        """(source, path) of a definition that did not ship with psyq, for the store to
        keep a copy of; None for a built-in one (psyq keeps its earlier versions)."""
        from psyq.plugins.builtin_instruments import BUILTIN_SOURCE

        entry = self.registry.entry(instrument_id)
        if entry.source == BUILTIN_SOURCE:
            return None
        return entry.source, str(entry.path.resolve())

    def instrument_of(self, adm: Administration, store: Store | None = None) -> Instrument:
        """The definition to read a stored administration with.

        An installed instrument: its current definition, or the superseded built-in
        version the administration names (CCTS 0.1), so `rescore` applies a changed
        definition. Not installed (a draft scored by path, a local pack or plugin
        removed since): the copy the store kept, with one line on stderr if the
        file it came from has moved or changed.
        """
        try:
            current = self.registry.get(adm.instrument_id)
        except UnknownInstrumentError:
            current = None
        if current is not None:
            if current.version == adm.instrument_version:
                return current
            from psyq.superseded import find_version

            return find_version(self.pm, adm.instrument_id, adm.instrument_version) or current
        # The definition its stored scores came from (a rescore by path may have changed it).
        digests = dict.fromkeys((adm.scored_with or adm.definition_hash, adm.definition_hash))
        for digest in digests:
            kept = self._kept(digest, store)
            if kept is not None:
                return kept
        gone = None if store is None else store.definition_deleted(list(digests))
        if gone is not None:  # psyq never deletes a kept copy: not a file to give again
            from psyq.store import TamperedError

            raise TamperedError(
                f"administration {adm.id}: instrument '{adm.instrument_id}' "
                f"v{adm.instrument_version} is not installed and the store's copy of it was "
                f"deleted outside psyq ({gone}); restore the store from a backup "
                "(`psyq audit verify` gives the details)"
            )
        raise UnknownInstrumentError(
            f"administration {adm.id}: instrument '{adm.instrument_id}' "
            f"v{adm.instrument_version} is not installed and the store keeps no usable copy of it; "
            "give its definition file again (`psyq record ./file.yaml ...` keeps one)"
        )

    def _kept(self, digest: str, store: Store | None) -> Instrument | None:
        if digest in self._kept_copies:
            return self._kept_copies[digest]
        if store is None:
            with self.open_store() as own:
                return self._kept(digest, own)
        stored = store.definition(digest)
        instrument, problem = (None, None) if stored is None else stored.checked()
        self._kept_copies[digest] = instrument
        if stored is not None and problem is not None:
            used = "" if instrument is not None else "; not used"
            click.echo(
                f"psyq: warning: the stored copy of {stored.instrument_id} ({digest[:15]}) "
                f"{problem}{used}",
                err=True,
            )
        elif stored is not None:
            said = describe_kept(self, stored)
            if said:
                click.echo(f"note: {said}", err=True)
        return instrument

    def instrument_filter(self, instrument: str, store: Store) -> str:
        """The instrument id an ``--instrument`` option names: an installed id, a
        definition file's path, or the id of administrations the store holds."""
        from psyq.registry import is_definition_path

        if is_definition_path(instrument):
            return self.registry.get(instrument).id
        try:
            return self.registry.get(instrument).id
        except UnknownInstrumentError:
            if store.has_instrument(instrument):
                return instrument
            raise

    @property
    def store_path(self) -> Path:
        """The client store: ``--db PATH``, else ``psyq.db`` in the data directory."""
        return self.db_path if self.db_path is not None else self.home / "psyq.db"

    @property
    def key_path(self) -> Path:
        """The audit key: ``--audit-key PATH``, else ``$PSYQ_AUDIT_KEY``, else in the data dir."""
        from psyq.audit import key_path

        return self.audit_key_path if self.audit_key_path is not None else key_path(self.home)

    def scoring_plugins(self) -> list[str]:
        """The plugin set scores come from, as ``name version`` (kept with stored scores)."""
        return list(self._plugin_set)

    @cached_property
    def _plugin_set(self) -> tuple[str, ...]:
        return tuple(
            sorted(
                f"{info.name} {info.version or '?'}"
                for info in self.pm.plugin_infos()
                if info.source in ("built-in", "entry point", "registered")
            )
        )

    def private_home(self) -> None:
        """Make the data folder private before psyq keeps the store, a key or the kiosk
        file in it (once per run), saying so on stderr; refuse another user's (and
        `sudo psyq` starting a second store in root's). A folder given with ``--db`` is
        checked, not changed (:func:`psyq.files.check_output_folder`). The data folder
        is not created when neither the store nor the audit key is kept there."""
        if self._home_checked:
            return
        for note in self._home_notes():
            click.echo(f"psyq: warning: {note}", err=True)
        self._home_checked = True

    def _home_notes(self) -> list[str]:
        from psyq.files import SharedFolder, check_output_folder, data_folder
        from psyq.store import _is_read_only

        home = self.home
        used = home in (self.store_path.parent, self.key_path.parent)
        chosen = self._home is not None or os.environ.get("PSYQ_HOME", "").strip()
        sudo_user = os.environ.get("SUDO_USER", "")
        if os.getuid() == 0 and sudo_user not in ("", "root") and used and not chosen:
            # `sudo psyq record ...`: a second store in root's folder, apart from the
            # clinician's, and an audit log naming root for the clinician's work.
            raise SharedFolder(
                f"psyq runs as root through sudo: client data would go to root's data "
                f"folder {home}, apart from {sudo_user}'s: run psyq as {sudo_user}, "
                "without sudo (or set PSYQ_HOME to a folder of root's on purpose)"
            )
        notes = data_folder(home) if used or home.exists() else []
        if self.db_path is not None and not _is_read_only(self.db_path):
            # A store the user named: its folder is theirs, checked, never changed. One
            # psyq cannot write (an archive on a DVD, whoever owns it) is only read.
            note = check_output_folder(self.db_path)
            if note is not None and not os.path.lexists(self.db_path):
                notes.append(note)
        return notes

    def open_store(self) -> Store:
        """Open the client store (created and migrated on first use); close it when done."""
        from psyq.store import open_store  # commands that keep no data never load it

        self.private_home()
        store = open_store(self.store_path, key_path=self.key_path)
        for note in store.notes:
            click.echo(f"psyq: warning: {note}", err=True)
        return store


def describe_kept(app: App, stored: StoredDefinition) -> str | None:
    """One line when a kept copy's file moved or changed, or its source is gone (None when
    the file is still as it was)."""
    from psyq.registry import load_instrument_file

    what = f"{stored.instrument_id} v{stored.version} ({stored.hash[:19]})"
    where = stored.source_path
    if not where:
        return f"{what} is not installed ({stored.source}); psyq uses its stored copy"
    path = Path(where)
    try:
        now = load_instrument_file(app.pm, path).content_hash() if path.is_file() else None
    except PsyqError:
        now = "unreadable"
    if now == stored.hash:
        return None
    state = "is gone (moved or deleted)" if now is None else f"has CHANGED since ({now[:19]})"
    return (
        f"{what} was scored with {where}, which {state}; psyq uses the copy it stored "
        "(re-score with the new file: psyq rescore --instrument FILE)"
    )

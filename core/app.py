"""The application object every command receives as ``click`` context ``obj``."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from psyq.errors import DefinitionError
from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.paths import data_dir
from psyq.registry import InstrumentRegistry
from psyq.scoring import Scorer

if TYPE_CHECKING:
    from psyq.store import Store


class App:
    """Plugin manager plus the lazily built services commands need."""

    def __init__(self, pm: PsyqPluginManager, home: Path | None = None) -> None:
        self.pm = pm
        self._home = home
        self.db_path: Path | None = None
        self.audit_key_path: Path | None = None

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
        return Scorer(self.pm)

    def instrument(self, instrument_id: str) -> Instrument:
        return self.registry.get(instrument_id)

    def stored_instrument(self, instrument_id: str, version: str) -> Instrument:
        """The definition stored answers were given to: the current one, or the superseded
        built-in version they name (CCTS 0.1), so stored data keep scoring as before."""
        current = self.registry.get(instrument_id)
        if current.version == version:
            return current
        from psyq.superseded import find_version

        return find_version(self.pm, instrument_id, version) or current

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

    def open_store(self) -> Store:
        """Open the client store (created and migrated on first use); close it when done."""
        from psyq.store import open_store  # commands that keep no data never load it

        return open_store(self.store_path, key_path=self.key_path)

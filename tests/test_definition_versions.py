"""A built-in definition's version names its scoring content, and stored results say
which version scored them.

AUDIT, AUDIT-C, EPDS and PCL-5 changed after their first commit (cut-offs by sex,
band labels and texts, placeholder EPDS texts, PCL-5 cluster labels) without a
version bump. All of it happened before any psyq release (CHANGELOG: "Unreleased";
no tag), so 1.0 is the content psyq first releases and the versions stay: a bump
would ship superseded "1.0" copies no release ever had (EPDS 1.0 with item wording
psyq may not distribute). ``PINNED`` makes the next such change a decision: once a
psyq with these versions is released, a change to what a definition scores or shows
needs a new version, the earlier one kept in ``instruments/superseded/`` (as CCTS 0.1).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from psyq.app import App
from psyq.manager import PsyqPluginManager
from psyq.models import Instrument
from psyq.superseded import find_version
from psyq.testing import CLI

from .test_ccts_versions import store_v01

SCORING_CONTENT = {
    "response_scales",
    "items",
    "scales",
    "flags",
    "status",
    "instructions",
    "recall_period",
    "norms",
    "licensed_text",
}
"""What scoring and every output read: answers, item texts, scales, bands and their
texts, cut-offs, flags. (Not descriptions, citations, golden examples or translations.)"""

# id -> (version, first 16 hex digits of the SHA-256 of its SCORING_CONTENT).
PINNED = {
    "audit": ("1.0", "7bda215e8ec8bb37"),
    "auditc": ("1.0", "40ae468b07232acd"),
    "bdi2": ("1.0", "6f66eeed2d592923"),
    "ccts": ("0.2", "e28d73ad45e78dbe"),
    "dass21": ("1.0", "a1765bbff2b4586e"),
    "epds": ("1.0", "772ad7fd55bf8777"),
    "gad2": ("1.0", "7bc8ffa7fe0b65c2"),
    "gad7": ("1.0", "2192f2ebdbeb4dc0"),
    "isi": ("1.0", "112c06d5e2ff3a7b"),
    "k10": ("1.0", "d3a2f8f595005fbe"),
    "pcl5": ("1.0", "3af2ecfc2c9acea0"),
    "pcptsd5": ("1.0", "2a922bf20659b91b"),
    "phq15": ("1.0", "5ee1db52f2d9beac"),
    "phq2": ("1.0", "d8fe38eaaabab99a"),
    "phq9": ("1.0", "22b91746fb5d5b7c"),
    "pss10": ("1.0", "41167d182e46d8e0"),
    "who5": ("1998", "81be2cbae697970d"),
}
SUPERSEDED = {("ccts", "0.1"): "fce46a41dd9197ea"}  # never changes again


# Where bands and missing-data rules come from: citations, not what is scored.
CITATIONS = {"scales": {"__all__": {"bands_source": True, "missing": {"source"}}}}


def scoring_digest(instrument: Instrument) -> str:
    # Defaults left out: a format field added with a default changes no definition.
    content = instrument.model_dump(
        mode="json", include=SCORING_CONTENT, exclude=CITATIONS, exclude_defaults=True
    )
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_a_changed_builtin_definition_changes_its_version(
    psyq_pm: PsyqPluginManager, psyq_home: Path
) -> None:
    registry = App(psyq_pm, home=psyq_home).registry
    shipped = {i for i in registry.ids() if registry.entry(i).source == "psyq (built-in)"}
    assert shipped == set(PINNED), "a new built-in instrument: pin its version and digest"
    changed = []
    for instrument_id, (version, digest) in PINNED.items():
        instrument = registry.get(instrument_id)
        now = (instrument.version, scoring_digest(instrument))
        if now != (version, digest):
            changed.append(f"{instrument_id}: pinned {version} {digest}, now {now[0]} {now[1]}")
    assert not changed, (
        "built-in definitions changed what they score or show: give each a new version "
        "and keep the earlier file in instruments/superseded/ (before psyq's first "
        "release, re-pin instead and say why in the commit): " + "; ".join(changed)
    )


def test_superseded_definitions_never_change(psyq_pm: PsyqPluginManager) -> None:
    for (instrument_id, version), digest in SUPERSEDED.items():
        old = find_version(psyq_pm, instrument_id, version)
        assert old is not None and scoring_digest(old) == digest


def test_history_shows_each_version_with_its_own_scales(
    psyq_pm: PsyqPluginManager, psyq_home: Path, psyq_cli: CLI
) -> None:
    # CCTS v0.1 stored, then v0.2 recorded: v0.1 has other subscales (attention, ...).
    store_v01(psyq_pm, psyq_home)
    answers = ",".join(["1"] * 16)
    recorded = psyq_cli("record", "ccts", "--client", "C0001", "--answers", answers)
    assert recorded.exit_code == 0, recorded.output
    history = psyq_cli("history", "C0001")
    assert history.exit_code == 0, history.output
    text = history.stdout
    v01, v02 = text.index("(ccts v0.1), total"), text.index("(ccts v0.2), total")
    assert v01 < text.index(" attention ") < v02 < text.index(" putting_first ")
    docs = json.loads(psyq_cli("history", "C0001", "--json").stdout)
    assert [d["administration"]["instrument_version"] for d in docs] == ["0.1", "0.2"]
    assert [d["instrument"]["version"] for d in docs] == ["0.1", "0.2"]

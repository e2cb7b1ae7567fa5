"""A report in another language: psyq's own words from the catalogue, the instrument's as defined.

psyq ships no Spanish PHQ-9 (no authoritative text could be verified, README
"Languages"), so the test gives PHQ-9 a *placeholder* translation file: every text
is "ES:" and the English text's id, plainly not a translation. One item's text is
a word the catalogue translates ("Scores"), to show instrument text never goes
through the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from click.testing import Result

from psyq import hookimpl
from psyq.app import App
from psyq.manager import PsyqPluginManager
from psyq.registry import InstrumentSource

CLI = Callable[..., Result]
Register = Callable[..., object]


def placeholder_translation(app: App, instrument_id: str, language: str) -> dict[str, Any]:
    """Every text of the instrument as a marked placeholder (tests only)."""
    inst = app.instrument(instrument_id)
    return {
        "translation_of": inst.id,
        "instrument_version": inst.version,
        "language": language,
        "source": "psyq test placeholder, not a translation",
        "title": f"ES:{inst.id}:title",
        "instructions": f"ES:{inst.id}:instructions" if inst.instructions else "",
        "recall_period": f"ES:{inst.id}:recall" if inst.recall_period else "",
        "notice": f"ES:{inst.id}:notice" if inst.notice else "",
        "response_scales": {
            sid: {o.value: f"ES:{sid}:{o.value}" for o in scale.options}
            for sid, scale in inst.response_scales.items()
        },
        "items": {item.id: f"ES:item:{item.id}" for item in inst.items},
        "bands": {
            score.id: {
                band.id: {
                    "label": f"ES:band:{band.id}",
                    "interpretation": f"ES:interp:{band.id}" if band.interpretation else "",
                    "if_flagged": [f"ES:if:{band.id}:{n}" for n in range(len(band.if_flagged))],
                }
                for band in score.bands
            }
            for score in inst.scales
        },
        "flags": {flag.id: f"ES:flag:{flag.id}" for flag in inst.flags},
    }


def test_a_spanish_phq9_report_has_spanish_headings_and_the_defined_text(
    psyq_pm: PsyqPluginManager, psyq_register: Register, psyq_cli: CLI, tmp_path: Path
) -> None:
    texts = placeholder_translation(App(psyq_pm), "phq9", "es")
    texts["items"]["phq9_1"] = "Scores"  # a catalogue word, as instrument text
    folder = tmp_path / "pack"
    folder.mkdir()
    (folder / "phq9.es.yaml").write_text(yaml.safe_dump(texts, allow_unicode=True))

    class Pack:
        @hookimpl
        def psyq_translation_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("phq9-es-test", folder)]

    psyq_register(Pack(), "phq9-es-test")
    # Item 9 skipped, then the form stopped after item 4: partial, critical item unanswered.
    run = psyq_cli("administer", "phq9", "--client", "C7", input="1\n2\n0\n3\nq\n")
    assert run.exit_code == 1, run.output
    report = tmp_path / "r-es.html"
    made = psyq_cli("report", "--administration", "1", "--language", "es", "-o", str(report))
    assert made.exit_code == 0, made.output
    html = report.read_text()

    assert '<html lang="es"' in html
    headings = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert "Puntuaciones" in headings and "Respuestas" in headings
    assert "Alerta de seguridad" in headings  # item 9 not answered: ask directly
    assert not {"Scores", "Answers", "Safety alert", "Missing data"} & set(headings)
    for header in ("Escala", "Puntuación", "Rango", "Categoría", "Ítem", "Respuesta", "Valor"):
        assert f">{header}</th>" in html, header
    assert "PARCIAL — 4 de 10 ítems respondidos" in html
    assert "PARTIAL" not in html
    assert "sin respuesta: pregunte directamente" in html
    # The instrument's texts are exactly the translation's, never the catalogue's.
    assert "ES:phq9:title" in html
    assert "<td>Scores</td>" in html and "ES:item:phq9_2" in html
    assert "ES:item:phq9_9" in html
    assert "ES:freq" in html or re.search(r"ES:[a-z_]+:1", html)
    assert "Little interest or pleasure" not in html  # no English fallback mid-report

    # A prorated total: the missing-data note is psyq's sentence, in Spanish.
    run = psyq_cli("administer", "phq9", "--client", "C7", input="1\n2\n\n3\n1\n1\n0\n1\n0\n2\n")
    assert run.exit_code == 0, run.output
    prorated = tmp_path / "p-es.html"
    made = psyq_cli("report", "--administration", "2", "--language", "es", "-o", str(prorated))
    assert made.exit_code == 0, made.output
    note = prorated.read_text()
    assert "<h2>Datos faltantes</h2>" in note
    assert (
        "1 de 9 ítems sin respuesta; la puntuación se prorrateó a partir de los 8 ítems "
        "respondidos (su suma 9 escalada a 9 ítems" in note
    )
    assert "items unanswered" not in note and "PARCIAL" not in note
    assert "· generado " in note  # the footer's provenance label

    english = tmp_path / "r.html"
    made = psyq_cli("report", "--administration", "1", "-o", str(english))
    assert made.exit_code == 0, made.output
    html = english.read_text()
    assert "<h2>Scores</h2>" in html and "PARTIAL — 4 of 10 items answered" in html
    assert "Little interest or pleasure" in html

"""A translated report (``--language de|es``) is in its language from top to bottom,
above all where it speaks of risk and change: the trend's change lines, the sentence
beside an alert, the caption, the note on administrations not compared, the outcome
and criterion sentences, the band chart's direction and the PDF's page numbers.

Instrument texts come from placeholder translation files (``ES:...``, see
tests/test_report_language.py: psyq ships no German or Spanish PHQ-9); psyq's own
words come from its catalogue, and no English sentence of psyq's may remain.
"""

from __future__ import annotations

import html as markup
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
import yaml

from psyq import hookimpl
from psyq.app import App
from psyq.manager import PsyqPluginManager
from psyq.registry import InstrumentSource
from psyq.scoring import Scorer
from psyq.testing import CLI, Register
from tests.test_report_language import placeholder_translation

# psyq's English sentences and words of the trend and charts (found in de/es reports).
ENGLISH = [
    "Since the",
    "administration",
    "reliable improvement",
    "reliable deterioration",
    "not reliable",
    "no change",
    "minimal important difference",
    "clinically significant",
    "The change of the total only",
    "does not lessen the critical flag",
    "see the safety alert",
    "Ringed points",
    "green: improvement",
    "Red triangles",
    "mark administrations with a critical flag",
    "Not compared",
    "earlier administration",
    "scored with version",
    "not comparable",
    "A critical flag was raised",
    "response (a drop",
    "remission (below",
    "Reliable change:",
    "points or more",
    "reliable-change criterion",
    "Trend of",
    "higher = ",
    "Page ",
]

# What each language says instead (the catalogue's words, core/locale/*/psyq.po).
WORDS = {
    "de": {
        "previous": "Seit der vorigen Erhebung (2026-10-01): −8 reliable Verbesserung, "
        "klinisch signifikant.",
        "first": "Seit der ersten Erhebung (2026-09-01): −14 reliable Verbesserung, "
        "klinisch signifikant.",
        "beside_alert": "Nur die Veränderung des Gesamtwerts: Sie schwächt den kritischen "
        "Hinweis nicht ab; siehe den Sicherheitshinweis.",
        "outcome": "Seit der ersten Erhebung (2026-09-01): Ansprechen (Abnahme um 50 % oder "
        "mehr gegenüber 19): ja; Remission (unter 5): nein.",
        "caption": "Eingekreiste Punkte haben sich gegenüber der vorigen Erhebung reliabel "
        "verändert (grün: Verbesserung, rot: Verschlechterung).",
        "triangles": "Rote Dreiecke (!) markieren Erhebungen mit einem kritischen Hinweis.",
        "criterion": "Reliable Veränderung: 6 Punkte oder mehr.",
        "direction": "(höher = mehr Anlass zur Sorge)",
        "aria": 'aria-label="Verlauf von Depression severity (total)"',
        "not_compared_2": "Nicht verglichen: 2 frühere Erhebungen von PHQ-9, gewertet mit "
        "Version 0.8, 0.9 der Definition, nicht mit dieser Version (1.0); ihre Werte sind "
        "mit den Werten dieser Version nicht vergleichbar.",
        "critical_2": "Bei den Erhebungen vom 2026-01-01, 2026-02-01 wurde ein kritischer "
        "Hinweis ausgelöst.",
        "page": "Seite 1 von 2",
    },
    "es": {
        "previous": "Desde la administración anterior (2026-10-01): −8 mejoría fiable, "
        "clínicamente significativo.",
        "first": "Desde la primera administración (2026-09-01): −14 mejoría fiable, "
        "clínicamente significativo.",
        "beside_alert": "Solo el cambio de la puntuación total: no atenúa la alerta crítica; "
        "vea la alerta de seguridad.",
        "outcome": "Desde la primera administración (2026-09-01): respuesta (una reducción "
        "del 50 % o más respecto a 19): sí; remisión (por debajo de 5): no.",
        "caption": "Los puntos rodeados por un círculo cambiaron de forma fiable respecto a "
        "la administración anterior (verde: mejoría, rojo: empeoramiento).",
        "triangles": "Los triángulos rojos (!) marcan las administraciones con una alerta crítica.",
        "criterion": "Cambio fiable: 6 puntos o más.",
        "direction": "(más alto = más preocupación)",
        "aria": 'aria-label="Evolución de Depression severity (total)"',
        "not_compared_1": "No comparada: 1 administración anterior de PHQ-9, puntuada con la "
        "versión 0.9 de su definición, no con esta versión (1.0); su puntuación no es "
        "comparable con las de esta versión.",
        "critical_1": "Se generó una alerta crítica en la administración del 2026-01-01.",
        "page": "Página 1 de 2",
    },
}


def words(text: str) -> str:
    return " ".join(text.split())


def page_text(path: Path) -> str:
    """The HTML report's text as read (tags out), with its attributes (aria-label) kept
    apart at the end, so both are checked for English."""
    source = re.sub(r"<style.*?</style>", "", path.read_text(encoding="utf-8"), flags=re.S)
    attributes = " ".join(re.findall(r'(?:aria-label|title|alt)="[^"]*"', source))
    return words(markup.unescape(re.sub(r"<[^>]+>", "", source)) + " " + attributes)


def pdf_text(path: Path) -> str:
    """What a clinician reads in the PDF (pdftotext, poppler-utils)."""
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return words(done.stdout)


def english_left(text: str) -> list[str]:
    return [phrase for phrase in ENGLISH if phrase in text]


@pytest.fixture
def translated(psyq_pm: PsyqPluginManager, psyq_register: Register, tmp_path: Path) -> None:
    """German and Spanish placeholder texts for the PHQ-9 and the WHO-5."""
    folder = tmp_path / "pack"
    folder.mkdir()
    app = App(psyq_pm)
    for instrument in ("phq9", "who5", "audit", "ccts"):
        for language in ("de", "es"):
            texts = placeholder_translation(app, instrument, language)
            (folder / f"{instrument}.{language}.yaml").write_text(
                yaml.safe_dump(texts, allow_unicode=True), encoding="utf-8"
            )

    class Pack:
        @hookimpl
        def psyq_translation_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("whole-language-pack", folder)]

    psyq_register(Pack(), "whole-language-pack")


def store_older_version(
    psyq_pm: PsyqPluginManager, psyq_home: Path, client: str, versions: list[str]
) -> None:
    """Earlier PHQ-9 forms scored with other versions of the definition (item 9 at 2):
    not plotted, named in the "not compared" note with their critical flags."""
    app = App(psyq_pm, home=psyq_home)
    for month, version in enumerate(versions, start=1):
        older = app.instrument("phq9").model_copy(update={"version": version})
        answers: dict[str, int | None] = {item.id: 0 for item in older.items} | {"phq9_9": 2}
        result = Scorer(psyq_pm).score(older, answers)
        assert result.critical
        with app.open_store() as store:
            store.add_administration(
                instrument=older, client_id=client, answers=answers, result=result,
                administered=date(2026, month, 1),
            )  # fmt: skip


def record_history(psyq_cli: CLI, client: str) -> None:
    """Totals 19, 13, 5; the last with item 9 at 2 (a critical flag)."""
    for day, answers in (
        ("2026-09-01", "3,3,3,2,2,2,2,2,0"),
        ("2026-10-01", "2,2,2,2,2,1,1,1,0"),
        ("2026-11-01", "1,0,1,0,0,0,0,1,2"),
    ):
        done = psyq_cli("record", "phq9", "--client", client, "--date", day, "--answers", answers)
        assert done.exit_code == 0, done.output


@pytest.mark.parametrize(("language", "older"), [("de", ["0.8", "0.9"]), ("es", ["0.9"])])
def test_a_translated_report_speaks_of_change_and_risk_in_its_language(
    translated: None,
    psyq_pm: PsyqPluginManager,
    psyq_home: Path,
    psyq_cli: CLI,
    tmp_path: Path,
    language: str,
    older: list[str],
) -> None:
    store_older_version(psyq_pm, psyq_home, "C0001", older)
    record_history(psyq_cli, "C0001")
    out = tmp_path / f"r-{language}.html"
    made = psyq_cli("report", "--client", "C0001", "--latest", "--language", language, "-o", out)
    assert made.exit_code == 0, made.output
    html = page_text(out)
    expected = WORDS[language]
    n = len(older)
    for key in ("previous", "first", "outcome", "caption", "criterion", "direction", "aria"):
        assert expected[key] in html, key
    # Beside the alert each improvement is the total's only, said in the report's language.
    assert html.count(expected["beside_alert"]) == 2
    assert expected["triangles"] in html
    assert expected[f"not_compared_{n}"] in html
    assert expected[f"critical_{n}"] in html
    assert not english_left(html), english_left(html)


@pytest.mark.parametrize("language", ["de", "es"])
def test_the_pdf_reads_in_its_language_page_numbers_too(
    translated: None, psyq_cli: CLI, tmp_path: Path, language: str
) -> None:
    record_history(psyq_cli, "C0002")
    out = tmp_path / f"r-{language}.pdf"
    made = psyq_cli("report", "--client", "C0002", "--latest", "--language", language, "-o", out)
    assert made.exit_code == 0, made.output
    text = pdf_text(out)
    expected = WORDS[language]
    for key in ("previous", "first", "beside_alert", "outcome", "triangles", "page"):
        assert expected[key] in text, key
    assert not english_left(text), english_left(text)


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        (
            "de",
            [
                "Seit der vorigen Erhebung (2026-10-01): +4 Verbesserung (unter der minimal "
                "wichtigen Differenz).",
                "Seit der ersten Erhebung (2026-09-01): +16 Verbesserung (erreicht die minimal "
                "wichtige Differenz).",
                "Minimal wichtige Differenz: 10 Punkte.",
                "(höher = besser)",
            ],
        ),
        (
            "es",
            [
                "Desde la administración anterior (2026-10-01): +4 mejoría (por debajo de la "
                "diferencia mínima importante).",
                "Desde la primera administración (2026-09-01): +16 mejoría (alcanza la "
                "diferencia mínima importante).",
                "Diferencia mínima importante: 10 puntos.",
                "(más alto = mejor)",
            ],
        ),
    ],
)
def test_a_minimal_important_difference_is_said_in_the_reports_language(
    translated: None, psyq_cli: CLI, tmp_path: Path, language: str, phrases: list[str]
) -> None:
    """WHO-5 (higher is better, a minimal important difference of 10, no RCI)."""
    for day, answers in (
        ("2026-09-01", "2,2,2,2,2"),
        ("2026-10-01", "3,3,3,2,2"),
        ("2026-11-01", "3,3,3,3,2"),
    ):
        done = psyq_cli("record", "who5", "--client", "C0003", "--date", day, "--answers", answers)
        assert done.exit_code == 0, done.output
    out = tmp_path / "w.html"
    made = psyq_cli("report", "--client", "C0003", "--latest", "--language", language, "-o", out)
    assert made.exit_code == 0, made.output
    html = page_text(out)
    for phrase in phrases:
        assert phrase in html
    assert not english_left(html), english_left(html)


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        ("de", ["+4 Verschlechterung, nicht reliabel.", "0 keine Veränderung."]),
        ("es", ["+4 empeoramiento, no fiable.", "0 sin cambios."]),
    ],
)
def test_change_that_is_not_reliable_is_said_in_the_reports_language(
    translated: None, psyq_cli: CLI, tmp_path: Path, language: str, phrases: list[str]
) -> None:
    for day, answers in (
        ("2026-09-01", "2,2,2,2,1,1,1,1,0"),
        ("2026-10-01", "1,1,1,1,1,1,1,1,0"),
        ("2026-11-01", "2,2,2,2,1,1,1,1,0"),
    ):
        done = psyq_cli("record", "phq9", "--client", "C0004", "--date", day, "--answers", answers)
        assert done.exit_code == 0, done.output
    out = tmp_path / "r.html"
    made = psyq_cli("report", "--client", "C0004", "--latest", "--language", language, "-o", out)
    assert made.exit_code == 0, made.output
    html = page_text(out)
    for phrase in phrases:
        assert phrase in html
    assert not english_left(html), english_left(html)


def test_the_terminal_line_stays_in_one_language(
    translated: None, psyq_cli: CLI, tmp_path: Path
) -> None:
    """psyq's terminal line is English, as its other messages: the band as defined, not the
    translated label inside an English sentence; the English report keeps its words."""
    record_history(psyq_cli, "C0005")
    made = psyq_cli(
        "report", "--client", "C0005", "--latest", "--language", "de", "-o", tmp_path / "r.html"
    )
    assert made.exit_code == 0, made.output
    line = next(s for s in made.output.splitlines() if s.startswith("wrote "))
    assert line.endswith("total 5 Mild (score band only; see the safety alert)"), line
    assert "ES:" not in line
    english = tmp_path / "en.html"
    made = psyq_cli("report", "--client", "C0005", "--latest", "-o", english)
    assert made.exit_code == 0, made.output
    html = page_text(english)
    assert "Since the previous administration (2026-10-01): −8 reliable improvement" in html
    assert "The change of the total only: it does not lessen the critical flag" in html
    assert "Red triangles (!) mark administrations with a critical flag." in html
    assert 'aria-label="Trend of Depression severity (total)"' in html
    assert "(higher = more concern)" in html and "Seite" not in html


NORMS_ENGLISH = [
    "Norm-referenced",
    "interval (T)",
    "Percentile",
    "Norm group",
    "no reliability",
    "against the norm group",
    "PROVISIONAL norm table",
    "not for interpreting",
    "SMALL NORM GROUP",
    "fewer than",
    "are imprecise",
    "Each bar",
    "higher means",
    "has bands",
]


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        (
            "de",
            [
                "Normbezogene Werte",
                "95 %-Intervall (T)",
                "Prozentrang",
                "Normgruppe (n)",
                "VORLÄUFIGE Normtabelle 'six_norms': nicht zur alleinigen Interpretation",
                "KLEINE NORMGRUPPE (sex=f, age=30-49): weniger als 100 Personen, daher sind "
                "T-Wert und Prozentrang ungenau",
                "Tabelle: SIX norms (Simulated test sample) (six_norms v1).",
                "keine Reliabilität in der Tabelle, daher kein Intervall",
                "Jeder Balken zeigt den Wert einer Skala als Anteil ihres eigenen Bereichs; "
                "höher bedeutet mehr von dem, was sie misst; keine Skala hat Bereichsstufen.",
            ],
        ),
        (
            "es",
            [
                "Puntuaciones normativas",
                "Intervalo del 95 % (T)",
                "Percentil",
                "Grupo normativo (n)",
                "Tabla normativa PROVISIONAL 'six_norms': no sirve por sí sola",
                "GRUPO NORMATIVO PEQUEÑO (sex=f, age=30-49): menos de 100 personas",
                "Tabla: SIX norms (Simulated test sample) (six_norms v1).",
                "la tabla no da fiabilidad, por lo que no hay intervalo",
                "Cada barra es la puntuación de una escala como proporción de su propio rango; "
                "más alto significa más de lo que mide; ninguna escala tiene categorías.",
            ],
        ),
    ],
)
def test_norm_scores_their_warnings_and_the_profile_are_in_the_reports_language(
    psyq_pm: PsyqPluginManager,
    psyq_register: Register,
    psyq_cli: CLI,
    tmp_path: Path,
    language: str,
    phrases: list[str],
) -> None:
    """A provisional norm table and a small norm group are said loudly, in the report's
    language (the warnings are stored in English with the score); the subscale profile's
    caption too."""
    from tests.packs import DirectoryPack
    from tests.test_analysis import SIX
    from tests.test_norms import ANSWERS, build

    instruments, folder = tmp_path / "six-pack", tmp_path / "six-languages"
    instruments.mkdir()
    folder.mkdir()
    (instruments / "six.yaml").write_text(SIX, encoding="utf-8")
    psyq_register(DirectoryPack("six pack", instruments), "six-pack")
    texts = placeholder_translation(App(psyq_pm), "six", language)
    (folder / f"six.{language}.yaml").write_text(yaml.safe_dump(texts), encoding="utf-8")

    class Pack:
        @hookimpl
        def psyq_translation_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("six-language-pack", folder)]

    psyq_register(Pack(), "six-language-pack")
    table = build(psyq_cli, tmp_path)
    out = tmp_path / "n.html"
    made = psyq_cli(
        "report", "six", "--answers", ANSWERS, "--client", "C-1", "--norms", table,
        "--group", "sex=f,age=34", "--language", language, "-o", out,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    html = page_text(out)
    for phrase in phrases:
        assert phrase in html
    assert not [p for p in NORMS_ENGLISH if p in html], html


@pytest.mark.parametrize(
    ("language", "skipped"),
    [("de", ("übersprungen (", "); gewertet mit 0")), ("es", ("omitido (", "); puntuado con 0"))],
)
def test_a_skipped_item_is_said_in_the_reports_language(
    translated: None, psyq_cli: CLI, tmp_path: Path, language: str, skipped: tuple[str, str]
) -> None:
    """AUDIT items 2-8 are skipped when item 1 is Never: psyq's words around the
    instrument's reason are the report's language."""
    out = tmp_path / "a.html"
    made = psyq_cli(
        "report", "audit", "--answers", "0,,,,,,,,0,0", "--client", "C-6",
        "--language", language, "-o", out,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    html = page_text(out)
    before, after = skipped
    assert html.count(before) == 7 and html.count(after) == 7, html
    assert "skipped" not in html and "); scored" not in html


@pytest.mark.parametrize(
    ("language", "unknown", "female"),
    [
        (
            "de",
            "AUDIT total (WHO risk zone): Die Grenzwerte hängen vom Geschlecht ab, und das "
            "Geschlecht der Person ist nicht bekannt: Die gezeigte Bereichsstufe setzt kein "
            "Geschlecht voraus",
            "AUDIT total (WHO risk zone): Grenzwerte für Personen mit sex=female (",
        ),
        (
            "es",
            "AUDIT total (WHO risk zone): los puntos de corte dependen del sexo, y no se "
            "conoce el sexo de la persona: la categoría mostrada no supone ningún sexo",
            "AUDIT total (WHO risk zone): puntos de corte para personas con sex=female (",
        ),
    ],
)
def test_notices_are_in_the_reports_language(
    translated: None, psyq_cli: CLI, tmp_path: Path, language: str, unknown: str, female: str
) -> None:
    """The instrument's own notice in its translation (CCTS), and psyq's notice on cut-offs
    that depend on the client's sex (AUDIT), though results store them in English."""
    out = tmp_path / "c.html"
    made = psyq_cli(
        "report", "ccts", "--answers", ",".join(["2"] * 16), "--client", "C-7",
        "--language", language, "-o", out,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    html = page_text(out)
    assert "ES:ccts:notice" in html  # the placeholder translation's notice
    assert "Have the client complete the CCTS" not in html
    for sex, expected in (([], unknown), (["--sex", "female"], female)):
        out = tmp_path / f"a{len(sex)}.html"
        made = psyq_cli(
            "report", "audit", "--answers", "1,1,1,0,0,0,0,0,0,0", "--client", "C-8", *sex,
            "--language", language, "-o", out,
        )  # fmt: skip
        assert made.exit_code == 0, made.output
        html = page_text(out)
        assert expected in html
        assert "cut-offs" not in html and "Record it with" not in html


@pytest.mark.parametrize(
    ("language", "phrases"),
    [
        (
            "de",
            [
                "3 von 9 Items fehlen; höchstens 2 dürfen fehlen",
                "1 von 2 Items fehlen; kein Item darf fehlen",
            ],
        ),
        (
            "es",
            [
                "faltan 3 de 9 ítems; pueden faltar como máximo 2",
                "faltan 1 de 2 ítems; no puede faltar ningún ítem",
            ],
        ),
    ],
)
def test_why_a_scale_was_not_scored_is_said_in_the_reports_language(
    translated: None, psyq_cli: CLI, tmp_path: Path, language: str, phrases: list[str]
) -> None:
    """The reason is stored in English with the result; the report says it in its
    language, in the scores table and in the missing-data section."""
    out = tmp_path / "m.html"
    made = psyq_cli(
        "report", "phq9", "--answers", "1,,,,1,1,1,1,0", "--client", "C-9",
        "--language", language, "-o", out,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    html = page_text(out)
    for phrase in phrases:
        assert html.count(phrase) == 2, phrase  # the table and the missing-data section
    assert "items missing" not in html and "may be missing" not in html
    stored = psyq_cli("score", "phq9", "--answers", "1,,,,1,1,1,1,0", "--json")
    assert "3 of 9 items missing; at most 2 may be missing" in stored.output

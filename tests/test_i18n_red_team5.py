"""Translations and the wording of summaries, fifth pass.

* A translated report gives a scale's label, a skip reason and the source of a
  client's cut-offs in the translation's words (optional fields of the translation
  format), and says which of them it shows in English when a translation lacks them.
* The ``table`` format speaks the report's language (``--language``).
* A critical flag named in a summary (``rescore``'s "now raised", history's earlier
  answers, a form moved to another client) is worded as every alert is: its message,
  with the item that raised it (psyq.alerts), in the report's language too.

psyq ships no clinical translation (README "Languages"): instrument texts here are
placeholders (``DE:...``) written for the test, as in tests/test_report_language.py.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from psyq import hookimpl
from psyq.app import App
from psyq.manager import PsyqPluginManager
from psyq.registry import InstrumentSource
from psyq.testing import CLI, Register
from tests.test_report_language import placeholder_translation
from tests.test_report_language_whole import page_text
from tests.test_risk_red_team3 import RISK


def optional_texts(app: App, instrument_id: str, language: str) -> dict[str, Any]:
    """Placeholders for the optional texts: scale labels, skip reasons, client_bands."""
    inst = app.instrument(instrument_id)
    tag = language.upper()
    return {
        "scale_labels": {s.id: f"{tag}:scale:{s.id}" for s in inst.scales},
        "skip_reasons": {
            i.id: f"{tag}:skip:{i.id}" for i in inst.items if i.skip is not None and i.skip.reason
        },
        "client_bands": {
            s.id: [
                {
                    # psyq's words translated around a citation kept as published.
                    "source": f"{tag}:cut-off:{n} (Bradley et al. 2003)" if g.source else "",
                    "bands": {
                        b.id: {
                            "label": f"{tag}:cband:{n}:{b.id}",
                            "interpretation": f"{tag}:cinterp:{n}:{b.id}"
                            if b.interpretation
                            else "",
                            "if_flagged": [
                                f"{tag}:cif:{b.id}:{k}" for k in range(len(b.if_flagged))
                            ],
                        }
                        for b in g.bands
                    },
                }
                for n, g in enumerate(s.client_bands)
            ]
            for s in inst.scales
            if s.client_bands
        },
    }


def install(
    psyq_pm: PsyqPluginManager,
    psyq_register: Register,
    folder: Path,
    files: dict[str, dict[str, Any]],
) -> None:
    """Translation files (name -> content) in a plugin's translation folder."""
    folder.mkdir(exist_ok=True)
    for name, texts in files.items():
        (folder / name).write_text(yaml.safe_dump(texts, allow_unicode=True), encoding="utf-8")

    class Pack:
        @hookimpl
        def psyq_translation_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("red-team5-pack", folder)]

    psyq_register(Pack(), "red-team5-pack")


def whole(app: App, instrument_id: str, language: str) -> dict[str, Any]:
    texts = placeholder_translation(app, instrument_id, language)
    texts.update(optional_texts(app, instrument_id, language))
    return texts


# -- 1. scale labels, skip reasons and cut-off sources -----------------------------


def test_a_german_report_gives_scale_labels_skip_reasons_and_cutoff_sources_in_german(
    psyq_pm: PsyqPluginManager, psyq_register: Register, psyq_cli: CLI, tmp_path: Path
) -> None:
    app = App(psyq_pm)
    install(
        psyq_pm, psyq_register, tmp_path / "pack", {"auditc.de.yaml": whole(app, "auditc", "de")}
    )
    # Item 1 "Never": items 2 and 3 skipped (scored 0, with the definition's reason).
    out = tmp_path / "r.html"
    made = psyq_cli(
        "report", "auditc", "--answers", "0,-,-", "--client", "C1", "--sex", "female",
        "--language", "de", "-o", out,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    text = page_text(out)
    assert "DE:scale:total" in text and "AUDIT-C</td>" not in out.read_text()
    assert "DE:skip:auditc_2" in text and "item 1 was Never" not in text
    # The women's cut-offs: their source and their band in the translation's words.
    assert "DE:cut-off:0 (Bradley et al. 2003)" in text
    assert "Bradley et al. 2003, 2007: 3 or more for women" not in text
    assert "DE:cband:0:negative" in text and "DE:cinterp:0:negative" in text
    assert "Not in this translation" not in text and "Nicht in dieser" not in text

    as_json = tmp_path / "r.json"
    made = psyq_cli(
        "report", "auditc", "--answers", "0,-,-", "--client", "C1", "--sex", "female",
        "--language", "de", "-o", as_json,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    doc = json.loads(as_json.read_text())
    assert any("DE:cut-off:0 (Bradley et al. 2003)" in n for n in doc["notices"])
    assert doc["scores"]["total"]["band_label"] == "DE:cband:0:negative"


def test_a_translation_without_the_optional_texts_shows_them_in_english_and_says_so(
    psyq_pm: PsyqPluginManager, psyq_register: Register, psyq_cli: CLI, tmp_path: Path
) -> None:
    app = App(psyq_pm)
    install(
        psyq_pm, psyq_register, tmp_path / "pack",
        {"auditc.es.yaml": placeholder_translation(app, "auditc", "es")},
    )  # fmt: skip
    out = tmp_path / "r.html"
    made = psyq_cli(
        "report", "auditc", "--answers", "0,-,-", "--client", "C1", "--sex", "female",
        "--language", "es", "-o", out,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    text = page_text(out)
    # The English is shown as defined, and the report says which texts it is.
    assert "item 1 was Never" in text
    assert (
        "No están en esta traducción, por eso se muestran en inglés: etiqueta de la escala "
        "total; motivo de omisión del ítem auditc_2; motivo de omisión del ítem auditc_3; "
        "fuente de los puntos de corte de la escala total para sex=female"
    ) in text


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda t: t["scale_labels"].update(nope="X"), "scale_labels: unknown scale 'nope'"),
        (
            lambda t: t["skip_reasons"].update(auditc_1="X"),
            "skip_reasons: item 'auditc_1' has no skip reason to translate",
        ),
        (
            lambda t: t["client_bands"]["total"].pop(),
            "client_bands: scale total has 2 client_bands entries, the translation 1",
        ),
        (
            lambda t: t["client_bands"]["total"][0]["bands"].pop("positive"),
            "scale total client_bands sex=female band positive is not translated",
        ),
    ],
)
def test_a_wrong_optional_text_is_refused_by_validate_and_by_the_report(
    psyq_pm: PsyqPluginManager,
    psyq_register: Register,
    psyq_cli: CLI,
    tmp_path: Path,
    change: Any,
    problem: str,
) -> None:
    texts = whole(App(psyq_pm), "auditc", "de")
    change(texts)
    install(psyq_pm, psyq_register, tmp_path / "pack", {"auditc.de.yaml": texts})
    checked = psyq_cli("validate", tmp_path / "pack" / "auditc.de.yaml")
    assert checked.exit_code != 0 and problem in checked.output, checked.output
    made = psyq_cli(
        "report", "auditc", "--answers", "0,-,-", "--client", "C1", "--language", "de",
        "-o", tmp_path / "r.html",
    )  # fmt: skip
    assert made.exit_code == 2 and "Traceback" not in made.output, made.output
    assert not (tmp_path / "r.html").exists()


# -- 3. a critical flag named in a summary, worded as every alert is ------------------


def test_rescore_history_and_a_moved_form_word_a_critical_flag_as_alerts_do(
    psyq_cli: CLI, psyq_home: Path, tmp_path: Path
) -> None:
    """Each said a flag by its id ("it raises CRITICAL suicidal_ideation (item phq9_9)"),
    where every other alert gives the flag's message with the item that raised it."""
    message = "The client endorsed thoughts that they would be better off dead"
    # history: an answer version whose answers raised the flag (item 9 taken back to 0).
    left = psyq_cli("administer", "phq9", "--client", "C1", input="0\n" * 8 + "2\nq\n")
    assert "partial administration 1" in left.output, left.output
    assert psyq_cli("administer", "--resume", "1", input="b\n0\n0\n").exit_code == 0
    history = psyq_cli("history", "C1").stdout
    assert f"the earlier answers raised CRITICAL (item phq9_9): {message}" in history
    assert "raised CRITICAL suicidal_ideation" not in history

    # A form moved to another client by hand: named under the client it left.
    for day, answers in (("2026-09-01", "2,2,2,2,2,2,2,2,2"), ("2026-10-01", "1," * 8 + "0")):
        made = psyq_cli("record", "phq9", "--client", "C2", "--date", day, "--answers", answers)
        assert made.exit_code == 0, made.output
    conn = sqlite3.connect(psyq_home / "psyq.db")
    conn.execute("UPDATE administrations SET client_id = 'C9' WHERE id = 2")
    conn.commit()
    conn.close()
    history = psyq_cli("history", "C2").stdout
    assert f"it raises CRITICAL (item phq9_9): {message}" in history
    assert "CRITICAL suicidal_ideation" not in history
    page = tmp_path / "r.html"
    assert psyq_cli("report", "--administration", "3", "-o", page).exit_code == 0
    text = page_text(page)
    assert (
        f"It raises a critical flag: {message}" in text
        and "(Item 9: \u201cThoughts that you would be better off dead" in text
    )


def test_rescore_says_a_flag_it_now_raises_by_its_message(psyq_cli: CLI, psyq_home: Path) -> None:
    """A definition that gained a critical flag: rescore's "now raised" line gave the
    flag's id where the alert's message belongs."""
    folder = psyq_home / "instruments"
    folder.mkdir(parents=True)
    installed = folder / "riskx.yaml"
    installed.write_text(RISK.split("flags:")[0], encoding="utf-8")  # r3 critical, no flag
    assert psyq_cli("record", "riskx", "--client", "C1", "--answers", "0,0,2,0").exit_code == 0
    installed.write_text(RISK.split("translations:")[0], encoding="utf-8")  # with harm_others
    done = psyq_cli("rescore", "--instrument", "riskx")
    assert done.exit_code == 0, done.output
    assert (
        "!!! CRITICAL now raised on administration 1 (item r3): The client reported thoughts "
        "of hurting others. Assess risk today." in done.stdout
    ), done.output
    assert "harm_others" not in done.stdout
    # The flag taken out again: the line that says so, and history's note on the scores
    # replaced, give its message too.
    installed.write_text(RISK.split("flags:")[0], encoding="utf-8")
    done = psyq_cli("rescore", "--instrument", "riskx")
    assert done.exit_code == 0, done.output
    assert (
        "critical flag no longer raised on administration 1 (item r3): The client reported "
        "thoughts of hurting others." in done.stdout
    ), done.output
    history = psyq_cli("history", "C1").stdout
    assert (
        "it raised CRITICAL (item r3): The client reported thoughts of hurting others." in history
    ), history


@pytest.mark.parametrize(
    ("language", "earlier", "moved"),
    [
        (
            "de",
            "Die früheren Antworten lösten einen kritischen Hinweis aus",
            "Sie löst einen kritischen Hinweis aus",
        ),
        (
            "es",
            "Las respuestas anteriores generaron una alerta crítica",
            "Genera una alerta crítica",
        ),
    ],
)
def test_a_translated_report_names_those_flags_in_its_language(
    psyq_pm: PsyqPluginManager,
    psyq_register: Register,
    psyq_cli: CLI,
    psyq_home: Path,
    tmp_path: Path,
    language: str,
    earlier: str,
    moved: str,
) -> None:
    install(
        psyq_pm, psyq_register, tmp_path / "pack",
        {f"phq9.{language}.yaml": whole(App(psyq_pm), "phq9", language)},
    )  # fmt: skip
    item = "Item" if language == "de" else "Ítem"
    # (placeholder_translation marks every text "ES:", whatever the language)
    quoted = f"ES:flag:suicidal_ideation ({item} 9: \u201cES:item:phq9_9\u201d)"
    left = psyq_cli("administer", "phq9", "--client", "C1", input="0\n" * 8 + "2\nq\n")
    assert "partial administration 1" in left.output, left.output
    assert psyq_cli("administer", "--resume", "1", input="b\n0\n0\n").exit_code == 0
    page = tmp_path / "a.html"
    made = psyq_cli("report", "--administration", "1", "--language", language, "-o", page)
    assert made.exit_code == 0, made.output
    assert f"{earlier}: {quoted}." in page_text(page)

    for day, answers in (("2026-09-01", "2,2,2,2,2,2,2,2,2"), ("2026-10-01", "1," * 8 + "0")):
        made = psyq_cli("record", "phq9", "--client", "C2", "--date", day, "--answers", answers)
        assert made.exit_code == 0, made.output
    conn = sqlite3.connect(psyq_home / "psyq.db")
    conn.execute("UPDATE administrations SET client_id = 'C9' WHERE id = 2")
    conn.commit()
    conn.close()
    page = tmp_path / "m.html"
    made = psyq_cli("report", "--administration", "3", "--language", language, "-o", page)
    assert made.exit_code == 0, made.output
    text = page_text(page)
    assert f"{moved}: {quoted}." in text
    assert "suicidal_ideation (item" not in text and "The client endorsed" not in text


# -- 2. the table format in the report's language -----------------------------------


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "de",
            [
                "Klient/in C1",
                "Skala  Wert  Bereich  Stufe",
                "KRITISCH (Item phq9_9): ES:flag:suicidal_ideation",
                "hochgerechnet aus 8 von 9 Antworten",
                "nicht gewertet phq9_10: nicht beantwortet (ES:item:phq9_10)",
                "HINWEIS: Nicht in dieser Übersetzung, daher auf Englisch angezeigt: "
                "Bezeichnung der Skala total",
            ],
        ),
        (
            "es",
            [
                "cliente C1",
                "escala  puntuación  rango  categoría",
                "CRÍTICO (ítem phq9_9): ES:flag:suicidal_ideation",
                "prorrateada a partir de 8 de 9 respuestas",
                "no puntuado phq9_10: sin respuesta (ES:item:phq9_10)",
                "NOTA: No están en esta traducción, por eso se muestran en inglés: "
                "etiqueta de la escala total",
            ],
        ),
    ],
)
def test_the_table_format_speaks_the_reports_language(
    psyq_pm: PsyqPluginManager,
    psyq_register: Register,
    psyq_cli: CLI,
    tmp_path: Path,
    language: str,
    words: list[str],
) -> None:
    install(
        psyq_pm, psyq_register, tmp_path / "pack",
        {f"phq9.{language}.yaml": placeholder_translation(App(psyq_pm), "phq9", language)},
    )  # fmt: skip
    # Item 3 unanswered (prorated), item 9 at 2 (critical), item 10 not answered.
    answers = "1,1,-,1,1,1,1,1,2"
    out = tmp_path / "r.txt"
    made = psyq_cli(
        "report", "phq9", "--answers", answers, "--client", "C1", "--language", language,
        "--format", "table", "-o", out,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    text = out.read_text(encoding="utf-8")
    for phrase in words:
        assert phrase in text, (phrase, text)
    english = ("client C1", "scale  score", "CRITICAL", "prorated from", "unscored", "NOTE:")
    assert not [w for w in english if w in text], text
    # English as it always was.
    plain = tmp_path / "en.txt"
    made = psyq_cli(
        "report", "phq9", "--answers", answers, "--client", "C1", "--format", "table",
        "-o", plain,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    text = plain.read_text(encoding="utf-8")
    assert "client C1\n!!! CRITICAL (item phq9_9): The client endorsed" in text
    assert "phq9_3" not in text and "total: prorated from 8 of 9 answers" in text
    assert "unscored phq9_10: not answered (" in text and "NOTE" not in text


COHORT = Path(__file__).resolve().parents[1] / "instruments" / "samples" / "phq9-cohort.csv"


@pytest.mark.parametrize(
    ("language", "words", "english"),
    [
        (
            "de",
            ["ES:phq9:title — Kohortenübersicht", "Anzahl je Bereichsstufe", "Befragte", "Zeile"],
            ["cohort summary", "Counts per band", "respondents", "with a critical flag"],
        ),
        (
            "es",
            ["ES:phq9:title — resumen de la cohorte", "Recuento por categoría", "fila"],
            ["cohort summary", "Counts per band", "respondents", "with a critical flag"],
        ),
    ],
)
def test_the_cohort_summary_of_a_batch_in_another_language_is_in_that_language(
    psyq_pm: PsyqPluginManager,
    psyq_register: Register,
    psyq_cli: CLI,
    tmp_path: Path,
    language: str,
    words: list[str],
    english: list[str],
) -> None:
    install(
        psyq_pm, psyq_register, tmp_path / "pack",
        {f"phq9.{language}.yaml": whole(App(psyq_pm), "phq9", language)},
    )  # fmt: skip
    out = tmp_path / "out"
    done = psyq_cli(
        "batch", COHORT, "--instrument", "phq9", "--out", out, "--language", language,
        "--summary", "html",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    page = (out / "cohort-summary.html").read_text(encoding="utf-8")
    assert f'<html lang="{language}">' in page
    text = page_text(out / "cohort-summary.html")
    for phrase in words:
        assert phrase in text, (phrase, text)
    assert not [w for w in english if w in text], text
    # The band table and the listing name the bands in the translation's words.
    assert "ES:band:minimal" in text and "Minimal" not in text
    assert f"{language.upper()}:scale:total" in text  # the chart names the total's label


# -- 4. red team: what a translation file may hold ---------------------------------


@pytest.mark.parametrize(
    ("where", "text", "problem"),
    [
        ("items", "Wenig Interesse\x1b[2K", "contains the control character U+001B"),
        ("items", "\u202eWenig Interesse", "contains the bidi override U+202E"),
        ("flags", "\u202d21 Punkte", "contains the bidi override U+202D"),
    ],
)
def test_a_translation_text_that_would_hide_or_reverse_words_is_refused(
    psyq_pm: PsyqPluginManager,
    psyq_register: Register,
    psyq_cli: CLI,
    tmp_path: Path,
    where: str,
    text: str,
    problem: str,
) -> None:
    """An item text with a terminal escape passed validate, then broke every command that
    used the language (an uncaught error); a bidi override (U+202E) made the words after it
    read in reverse beside a risk flag. Both are refused, naming the file and the line, and
    a command asked for that language says why the file was not read."""
    texts = whole(App(psyq_pm), "phq9", "de")
    key = "phq9_1" if where == "items" else "suicidal_ideation"
    texts[where][key] = text
    install(psyq_pm, psyq_register, tmp_path / "pack", {"phq9.de.yaml": texts})
    checked = psyq_cli("validate", tmp_path / "pack" / "phq9.de.yaml")
    assert checked.exit_code == 2, checked.output
    assert re.search(rf"phq9\.de\.yaml:\d+: {where}\.{key}: {re.escape(problem)}", checked.output)
    for args in (
        ("report", "phq9", "--answers", "0,0,0,0,0,0,0,0,2", "--client", "C1", "-o",
         tmp_path / "r.html"),
        ("administer", "phq9", "--client", "C1"),
    ):  # fmt: skip
        made = psyq_cli(*args, "--language", "de", input="q\n")
        assert made.exit_code == 2, made.output
        assert "no 'de' translation" in made.output and problem in made.output, made.output
    assert not (tmp_path / "r.html").exists()


def test_validate_names_the_optional_texts_a_translation_leaves_in_english(
    psyq_pm: PsyqPluginManager, psyq_register: Register, psyq_cli: CLI, tmp_path: Path
) -> None:
    app = App(psyq_pm)
    install(
        psyq_pm, psyq_register, tmp_path / "pack",
        {"k10.es.yaml": placeholder_translation(app, "k10", "es")},
    )  # fmt: skip
    checked = psyq_cli("validate", tmp_path / "pack" / "k10.es.yaml")
    assert checked.exit_code == 0, checked.output
    assert (
        "not translated, so shown in English: label of scale total; label of scale k6; "
        "skip reason of item "
        "k10_3; skip reason of item k10_6"
    ) in checked.stderr


def test_batch_reports_say_which_texts_they_show_in_english(
    psyq_pm: PsyqPluginManager, psyq_register: Register, psyq_cli: CLI, tmp_path: Path
) -> None:
    """``psyq batch --language`` reports, like ``psyq report --language``, say which
    optional texts the translation leaves in English."""
    install(
        psyq_pm, psyq_register, tmp_path / "pack",
        {"phq9.es.yaml": placeholder_translation(App(psyq_pm), "phq9", "es")},
    )  # fmt: skip
    out = tmp_path / "out"
    done = psyq_cli(
        "batch", COHORT, "--instrument", "phq9", "--out", out, "--language", "es",
        "--format", "json", "--summary", "html",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    reports = sorted((out / "reports").glob("*.json"))
    assert reports
    for report in reports:
        notices = json.loads(report.read_text(encoding="utf-8"))["notices"]
        assert (
            "No están en esta traducción, por eso se muestran en inglés: etiqueta de la escala "
            "total; etiqueta de la escala phq2."
        ) in notices, notices

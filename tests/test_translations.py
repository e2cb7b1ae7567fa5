"""Instrument translations: complete or refused, in definitions and in plugin files.

The instrument is a test fixture (tests/languages/): psyq ships no translation of a
clinical instrument, because no authoritative text could be verified.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from psyq.app import App
from psyq.i18n import LanguageError, direction, instrument_in, ui_language
from psyq.manager import PsyqPluginManager
from psyq.registry import InstrumentSource
from psyq.store import open_store
from tests.languages import HERE, LanguagePack

CLI = Callable[..., Result]
Register = Callable[..., object]


@pytest.fixture
def pack(psyq_register: Register) -> LanguagePack:
    return psyq_register(LanguagePack(), "langtest")  # type: ignore[return-value]


def test_a_translation_replaces_every_text_and_nothing_else(
    psyq_pm: PsyqPluginManager, pack: LanguagePack
) -> None:
    app = App(psyq_pm)
    base = app.instrument("langtest")
    spanish = instrument_in(app, base, "es")
    assert spanish.title == "Formulario de prueba de idiomas"
    assert spanish.items[0].text == "Duermo bien."
    assert [o.label for o in spanish.response_scales["freq"].options] == [
        "Nunca",
        "A veces",
        "A menudo",
    ]
    assert spanish.flags[0].message.startswith("Se siente inseguro")
    assert [b.label for b in spanish.total.bands] == ["Bajo", "Alto"]
    assert spanish.total.bands[0].if_flagged[0].text.startswith("Total bajo")
    # Values, scoring and ids are the instrument's own: the same answers score the same.
    answers = {"l1": 2, "l2": 0, "l3": 2}
    english = app.scorer.score_valid(base, answers)
    translated = app.scorer.score_valid(spanish, answers)
    assert english.total.value == translated.total.value == 4
    assert [f.id for f in english.flags] == [f.id for f in translated.flags] == ["unsafe"]
    assert instrument_in(app, base, None) is base


def test_translations_do_not_change_the_content_hash(
    psyq_pm: PsyqPluginManager, pack: LanguagePack
) -> None:
    # Adding a language must not make earlier administrations look like another definition.
    base = App(psyq_pm).instrument("langtest")
    bare = base.model_copy(update={"translations": {}})
    assert base.content_hash() == bare.content_hash()


def test_rtl_translation_ships_in_its_own_file(
    psyq_pm: PsyqPluginManager, pack: LanguagePack
) -> None:
    # psyq_translation_sources: a plugin adds a language to an instrument it does not own.
    app = App(psyq_pm)
    arabic = instrument_in(app, app.instrument("langtest"), "ar")
    assert arabic.items[2].text == "أشعر بعدم الأمان."
    assert direction("ar") == "rtl" and direction("es") == "ltr"


def test_unknown_language_is_refused_naming_the_known_ones(
    psyq_pm: PsyqPluginManager, pack: LanguagePack
) -> None:
    app = App(psyq_pm)
    with pytest.raises(LanguageError, match=r"no 'fr' translation \(available: ar, es\)"):
        instrument_in(app, app.instrument("langtest"), "fr")
    with pytest.raises(LanguageError, match="no 'es' translation"):
        instrument_in(app, app.instrument("phq9"), "es")


def _without(text: str, line: str) -> str:
    assert line in text, line
    return text.replace(line, "", 1)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("      l2: Disfruto del desayuno.\n", "translation 'es': item l2 is not translated"),
        ("0: Nunca, ", "response scale freq option 0 is not translated"),
        (
            "    flags:\n      unsafe: Se siente inseguro a menudo; pregunte directamente.\n",
            "flag unsafe message is not translated",
        ),
        ("    instructions: ¿Con qué frecuencia le ocurre esto?\n", "instructions is not"),
        (
            '          if_flagged: ["Total bajo, pero con una respuesta de riesgo: pregunte '
            'directamente."]\n',
            "band low has 1 if_flagged text(s), the translation 0",
        ),
    ],
)
def test_an_incomplete_translation_in_a_definition_is_a_validate_error(
    psyq_cli: CLI, tmp_path: Path, line: str, message: str
) -> None:
    broken = tmp_path / "langtest.yaml"
    broken.write_text(_without((HERE / "langtest.yaml").read_text(), line))
    result = psyq_cli("validate", str(broken))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_incomplete_translation_file_is_a_validate_error_and_never_used(
    psyq_pm: PsyqPluginManager, psyq_cli: CLI, psyq_register: Register, tmp_path: Path
) -> None:
    folder = tmp_path / "pack"
    folder.mkdir()
    shutil.copy(HERE / "langtest.yaml", folder / "langtest.yaml")
    text = (HERE / "langtest.ar.yaml").read_text()
    (folder / "langtest.ar.yaml").write_text(_without(text, "  l3: أشعر بعدم الأمان.\n"))

    class Pack:
        from psyq import hookimpl

        @hookimpl
        def psyq_instrument_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("broken", folder / "langtest.yaml")]

        @hookimpl
        def psyq_translation_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("broken-ar", folder / "langtest.ar.yaml")]

    psyq_register(Pack(), "broken")
    one = psyq_cli("validate", str(folder / "langtest.ar.yaml"))
    assert one.exit_code == 2
    assert "translation 'ar': item l3 is not translated" in one.output
    every = psyq_cli("validate")
    assert every.exit_code == 2 and "item l3 is not translated" in every.output
    refused = psyq_cli("kiosk", "start", "--no-qr", "--client", "C1", "--instruments", "langtest")
    assert refused.exit_code == 0  # its own language is fine
    arabic = psyq_cli(
        "kiosk",
        "start",
        "--no-qr",
        "--client",
        "C1",
        "--instruments",
        "langtest",
        "--language",
        "ar",
    )
    assert arabic.exit_code == 2
    assert "item l3 is not translated" in arabic.output


def test_a_translation_of_another_version_is_refused(
    psyq_pm: PsyqPluginManager, psyq_cli: CLI, psyq_register: Register, tmp_path: Path
) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    text = (
        (HERE / "langtest.ar.yaml")
        .read_text()
        .replace('instrument_version: "1"', "instrument_version: '0.9'")
    )
    (folder / "langtest.ar.yaml").write_text(text)

    class Old:
        from psyq import hookimpl

        @hookimpl
        def psyq_instrument_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("lt", HERE / "langtest.yaml")]

        @hookimpl
        def psyq_translation_sources(self) -> list[InstrumentSource]:
            return [InstrumentSource("old-ar", folder)]

    psyq_register(Old(), "old")
    result = psyq_cli("validate", str(folder / "langtest.ar.yaml"))
    assert result.exit_code == 2 and "translates langtest v0.9" in result.output
    app = App(psyq_pm)
    with pytest.raises(LanguageError, match="not the installed v1"):
        instrument_in(app, app.instrument("langtest"), "ar")


def test_administer_in_a_language_stores_it_and_the_report_states_it(
    psyq_cli: CLI, pack: LanguagePack, psyq_home: Path, tmp_path: Path
) -> None:
    run = psyq_cli(
        "administer", "langtest", "--client", "C0042", "--language", "es", input="1\n0\n2\n"
    )
    assert run.exit_code == 0, run.output
    assert "Formulario de prueba de idiomas" in run.output
    assert "Me siento inseguro." in run.output and "A menudo" in run.output
    assert "I feel unsafe" not in run.output
    assert "!!! CRITICAL" in run.output
    with open_store(psyq_home / "psyq.db") as store:
        (adm,) = store.administrations()
    assert adm.language == "es"
    report = tmp_path / "r.html"
    made = psyq_cli("report", "--administration", str(adm.id), "-o", str(report))
    assert made.exit_code == 0, made.output
    html = report.read_text()
    assert "form given in es" in html
    assert "I feel unsafe." in html  # the clinician's report is in the report's language
    spanish = tmp_path / "r-es.html"
    made = psyq_cli(
        "report", "--administration", str(adm.id), "--language", "es", "-o", str(spanish)
    )
    assert made.exit_code == 0, made.output
    html = spanish.read_text()
    assert '<html lang="es" dir="ltr">' in html
    assert "Me siento inseguro." in html and "Se siente inseguro a menudo" in html
    assert "formulario en es" in html  # psyq's own strings from the Spanish catalogue
    assert "Cliente" in html


def test_resume_keeps_the_language(psyq_cli: CLI, pack: LanguagePack) -> None:
    first = psyq_cli(
        "administer", "langtest", "--client", "C0042", "--language", "es", input="1\nq\n"
    )
    assert first.exit_code == 1  # stopped early: kept as partial administration 1
    assert "partial administration 1" in first.output
    clash = psyq_cli("administer", "--resume", "1", "--language", "ar", input="")
    assert clash.exit_code == 2 and "resume it without --language" in clash.output
    resumed = psyq_cli("administer", "--resume", "1", input="0\n0\n")
    assert resumed.exit_code == 0, resumed.output
    assert "Disfruto del desayuno." in resumed.output


def test_ui_catalogues_exist_for_spanish_and_german() -> None:
    assert ui_language("es").gettext("Thank you") == "Gracias"
    assert ui_language("de").gettext("Thank you") == "Danke"
    assert ui_language("es-MX").gettext("Back") == "Atrás"  # the primary subtag's catalogue
    assert ui_language("fr").gettext("Back") == "Back"  # psyq's own strings only


@pytest.mark.slow
def test_a_right_to_left_report(psyq_cli: CLI, pack: LanguagePack, tmp_path: Path) -> None:
    from pypdf import PdfReader

    run = psyq_cli(
        "administer", "langtest", "--client", "C0042", "--language", "ar", input="1\n0\n2\n"
    )
    assert run.exit_code == 0, run.output
    assert "أشعر بعدم الأمان." in run.output
    html_path, pdf_path = tmp_path / "r.html", tmp_path / "r.pdf"
    for path in (html_path, pdf_path):
        made = psyq_cli("report", "--administration", "1", "--language", "ar", "-o", str(path))
        assert made.exit_code == 0, made.output
    html = html_path.read_text()
    assert '<html lang="ar" dir="rtl">' in html
    assert "أنام جيدًا." in html and "form given in ar" in html
    # WeasyPrint draws SVG text without shaping or bidi: no Arabic inside the chart.
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert not any("\u0600" <= ch <= "\u06ff" for ch in svg)
    text = "".join(page.extract_text() for page in PdfReader(pdf_path).pages)
    assert any("\u0600" <= ch <= "\u06ff" or "\ufe70" <= ch <= "\ufeff" for ch in text)
    assert "0–6" in text or "0-6" in text  # the range keeps its order in a right-to-left table


def test_batch_reports_in_a_language(psyq_cli: CLI, pack: LanguagePack, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("client_id,l1,l2,l3\nC0001,0,0,2\nC0002,1,1,0\n")
    out = tmp_path / "out"
    args = ["batch", str(rows), "--instrument", "langtest", "--out", str(out), "--format", "html"]
    done = psyq_cli(*args, "--language", "es", "--jobs", "1", "--quiet")
    assert done.exit_code == 0, done.output
    pages = sorted((out / "reports").glob("*.html"))
    assert len(pages) == 2
    html = pages[0].read_text()
    assert '<html lang="es"' in html and "Me siento inseguro." in html and "Cliente" in html
    missing = psyq_cli(*args, "--language", "fr", "--force", "--quiet")
    assert missing.exit_code == 2 and "no 'fr' translation" in missing.output


def test_administer_speaks_the_forms_language(psyq_cli: CLI, pack: LanguagePack) -> None:
    run = psyq_cli(
        "administer", "langtest", "--client", "C0042", "--language", "es", input="1\nb\nb\n\n0\n2\n"
    )
    assert run.exit_code == 0, run.output
    assert "Escriba ? para obtener ayuda." in run.output
    assert "(esta es la primera pregunta)" in run.output
    assert "respondida antes: 1 (Intro la mantiene)" in run.output
    assert "respuesta (Intro omitir, b atrás" in run.output
    assert "(obligatoria)" in run.output  # item l3 is required

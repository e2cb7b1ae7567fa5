"""Instruments in other languages: checking translations and applying them.

Translations come from the definition itself (``translations:``) or from
translation files in the folders plugins name with the
``psyq_translation_sources`` hook (built-in ones included). A translation is
complete or it is an error: :func:`problems` lists every missing or unknown
text, ``psyq validate`` reports them, and :func:`translated` refuses an
incomplete one, so no form ever falls back to English half-way.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from psyq.errors import DefinitionError, PsyqError
from psyq.i18n import LanguageError, ui_language
from psyq.translation_format import BandText, Translation, TranslationFile

if TYPE_CHECKING:
    from psyq.app import App
    from psyq.manager import PsyqPluginManager
    from psyq.models import Band, Instrument
    from psyq.outputs import RenderRequest
    from psyq.results import FlagHit, ScoreResult

_FILES: weakref.WeakKeyDictionary[Any, TranslationFiles] = weakref.WeakKeyDictionary()


def problems(instrument: Instrument, translation: Translation, language: str) -> list[str]:
    """Every text the translation lacks or names wrongly, one line each."""
    where = f"translation '{language}'"
    out: list[str] = []

    def need(present: bool, what: str) -> None:
        if not present:
            out.append(f"{where}: {what} is not translated")

    if instrument.instructions:
        need(bool(translation.instructions), "instructions")
    if instrument.recall_period:
        need(bool(translation.recall_period), "recall_period")
    if instrument.notice:
        need(bool(translation.notice), "notice")
    for scale_id, scale in instrument.response_scales.items():
        labels = translation.response_scales.get(scale_id, {})
        for option in scale.options:
            need(option.value in labels, f"response scale {scale_id} option {option.value}")
        for value in sorted(set(labels) - set(scale.values)):
            out.append(f"{where}: response scale {scale_id} has no option {value}")
    for scale_id in sorted(set(translation.response_scales) - set(instrument.response_scales)):
        out.append(f"{where}: unknown response scale '{scale_id}'")
    for item in instrument.items:
        need(item.id in translation.items, f"item {item.id}")
    for item_id in sorted(set(translation.items) - {i.id for i in instrument.items}):
        out.append(f"{where}: unknown item '{item_id}'")
    for score in instrument.scales:
        texts = translation.bands.get(score.id, {})
        for band in score.bands:
            text = texts.get(band.id)
            need(text is not None, f"scale {score.id} band {band.id}")
            if text is not None and band.interpretation:
                need(bool(text.interpretation), f"scale {score.id} band {band.id} interpretation")
            if text is not None and len(text.if_flagged) != len(band.if_flagged):
                out.append(
                    f"{where}: scale {score.id} band {band.id} has {len(band.if_flagged)} "
                    f"if_flagged text(s), the translation {len(text.if_flagged)}"
                )
        for band_id in sorted(set(texts) - {b.id for b in score.bands}):
            out.append(f"{where}: scale {score.id} has no band '{band_id}'")
    for scale_id in sorted(set(translation.bands) - {s.id for s in instrument.scales}):
        out.append(f"{where}: unknown scale '{scale_id}'")
    for flag in instrument.flags:
        need(bool(translation.flags.get(flag.id)), f"flag {flag.id} message")
    for flag_id in sorted(set(translation.flags) - {f.id for f in instrument.flags}):
        out.append(f"{where}: unknown flag '{flag_id}'")
    return out + _optional_problems(instrument, translation, where)


def _band_problems(
    bands: list[Band], texts: dict[str, BandText], what: str, where: str
) -> list[str]:
    """A set of band texts given must be whole: every band, each interpretation and
    if_flagged text, and no band the definition lacks."""
    out: list[str] = []
    for band in bands:
        text = texts.get(band.id)
        if text is None:
            out.append(f"{where}: {what} band {band.id} is not translated")
            continue
        if band.interpretation and not text.interpretation:
            out.append(f"{where}: {what} band {band.id} interpretation is not translated")
        if len(text.if_flagged) != len(band.if_flagged):
            out.append(
                f"{where}: {what} band {band.id} has {len(band.if_flagged)} "
                f"if_flagged text(s), the translation {len(text.if_flagged)}"
            )
    for band_id in sorted(set(texts) - {b.id for b in bands}):
        out.append(f"{where}: {what} has no band '{band_id}'")
    return out


def _optional_problems(instrument: Instrument, translation: Translation, where: str) -> list[str]:
    """What the optional texts (scale labels, skip reasons, client_bands) name wrongly:
    a text for something the definition does not have is refused, never ignored."""
    out: list[str] = []
    scales = {s.id: s for s in instrument.scales}
    for scale_id in sorted(set(translation.scale_labels) - set(scales)):
        out.append(f"{where}: scale_labels: unknown scale '{scale_id}'")
    reasons = {i.id for i in instrument.items if i.skip is not None and i.skip.reason}
    for item_id in sorted(set(translation.skip_reasons) - reasons):
        known = any(i.id == item_id for i in instrument.items)
        out.append(
            f"{where}: skip_reasons: item '{item_id}' "
            + ("has no skip reason to translate" if known else "is unknown")
        )
    for scale_id, groups in sorted(translation.client_bands.items()):
        scale = scales.get(scale_id)
        if scale is None:
            out.append(f"{where}: client_bands: unknown scale '{scale_id}'")
            continue
        if len(groups) != len(scale.client_bands):
            out.append(
                f"{where}: client_bands: scale {scale_id} has {len(scale.client_bands)} "
                f"client_bands entr{'y' if len(scale.client_bands) == 1 else 'ies'}, "
                f"the translation {len(groups)}"
            )
            continue
        for group, text in zip(scale.client_bands, groups, strict=True):
            what = f"scale {scale_id} client_bands {group.label}"
            if text.source and not group.source:
                out.append(f"{where}: {what} has no source to translate")
            if text.bands:
                out += _band_problems(group.bands, text.bands, what, where)
    return out


def english_notice(
    instrument: Instrument, translation: Translation, gettext: Callable[[str], str]
) -> str | None:
    """The notice a report in the translation's language shows when some optional texts
    are shown in English (:func:`untranslated`), else None."""
    english = untranslated(instrument, translation, gettext)
    if not english:
        return None
    return gettext("Not in this translation, so shown in English: %(texts)s.") % {
        "texts": "; ".join(english)
    }


def untranslated(
    instrument: Instrument, translation: Translation, gettext: Callable[[str], str] = str
) -> list[str]:
    """The optional texts the translation does not give, which are shown in English
    (``label of scale total``), said through ``gettext``; :func:`problems` must be
    empty first."""
    out = [
        gettext("label of scale %(scale)s") % {"scale": s.id}
        for s in instrument.scales
        if s.id not in translation.scale_labels
    ]
    out += [
        gettext("skip reason of item %(item)s") % {"item": i.id}
        for i in instrument.items
        if i.skip is not None and i.skip.reason and i.id not in translation.skip_reasons
    ]
    for scale in instrument.scales:
        texts = translation.client_bands.get(scale.id, [])
        for n, group in enumerate(scale.client_bands):
            text = texts[n] if n < len(texts) else None
            words = {"scale": scale.id, "group": group.label}
            if group.source and (text is None or not text.source):
                out.append(gettext("cut-off source of scale %(scale)s for %(group)s") % words)
            if text is None or not text.bands:
                out.append(gettext("bands of scale %(scale)s for %(group)s") % words)
    return out


def apply(instrument: Instrument, translation: Translation) -> Instrument:
    """The instrument with every text replaced; values, scoring and ids unchanged."""
    from psyq.models import Instrument

    data = instrument.model_dump(mode="python", exclude={"translations"})
    data["title"] = translation.title
    if translation.short_name:
        data["short_name"] = translation.short_name
    data["instructions"] = translation.instructions
    data["recall_period"] = translation.recall_period
    data["notice"] = translation.notice
    for scale_id, scale in data["response_scales"].items():
        for option in scale["options"]:
            option["label"] = translation.response_scales[scale_id][option["value"]]
    for item in data["items"]:
        item["text"] = translation.items[item["id"]]
    for scale in data["scales"]:
        _band_texts(scale["bands"], translation.bands.get(scale["id"], {}))
    for flag in data["flags"]:
        flag["message"] = translation.flags[flag["id"]]
    # The optional texts: each one not given stays in English (untranslated() names it).
    for scale in data["scales"]:
        scale["label"] = translation.scale_labels.get(scale["id"], scale["label"])
        texts = translation.client_bands.get(scale["id"], [])
        for group, text in zip(scale["client_bands"], texts, strict=False):
            group["source"] = text.source or group["source"]
            if text.bands:
                _band_texts(group["bands"], text.bands)
    for item in data["items"]:
        reason = translation.skip_reasons.get(item["id"])
        if reason and item.get("skip"):
            item["skip"]["reason"] = reason
    return Instrument.model_validate(data)


def _band_texts(bands: list[dict[str, Any]], texts: dict[str, BandText]) -> None:
    for band in bands:
        text = texts[band["id"]]
        band["label"] = text.label
        band["interpretation"] = text.interpretation
        for alternative, translated_text in zip(
            band.get("if_flagged", []), text.if_flagged, strict=True
        ):
            alternative["text"] = translated_text


class TranslationFiles:
    """Translation files from every ``psyq_translation_sources`` folder, read once."""

    def __init__(self, pm: PsyqPluginManager) -> None:
        self.pm = pm
        self.files: dict[tuple[str, str], tuple[TranslationFile, Path]] = {}
        self.problems: list[str] = []
        # A file that could not be read, by the (instrument, language) it names, when
        # that much could be read: a report in that language names its mistake first.
        self.broken: dict[tuple[str, str], str] = {}
        from psyq.registry import _definition_files

        for _plugin, source in pm.collect("psyq_translation_sources"):
            for path in _definition_files(source.path):
                try:
                    found = load_translation_file(pm, path)
                except DefinitionError as exc:
                    self.problems.append(f"{source.name}: {exc}")
                    names = _names(pm, path)
                    if names is not None:
                        self.broken.setdefault(names, f"{source.name}: {exc}")
                    continue
                key = (found.translation_of, found.language)
                if key in self.files:
                    self.problems.append(
                        f"{path}: {found.translation_of} '{found.language}' is already "
                        f"translated by {self.files[key][1]}; the first one is used"
                    )
                    continue
                self.files[key] = (found, path)


def _names(pm: PsyqPluginManager, path: Path) -> tuple[str, str] | None:
    """The instrument and language a translation file names, if it can be read that far."""
    from psyq.registry import read_definition

    try:
        data = read_definition(pm, path)
    except DefinitionError:
        return None
    of, language = data.get("translation_of"), data.get("language")
    if isinstance(of, str) and isinstance(language, str):
        return of, language
    return None


def files_for(pm: PsyqPluginManager) -> TranslationFiles:
    found = _FILES.get(pm)
    if found is None:
        found = _FILES[pm] = TranslationFiles(pm)
    return found


def load_translation_file(pm: PsyqPluginManager, path: Path) -> TranslationFile:
    """Read and check the shape of one translation file (not yet against its instrument)."""
    from psyq.registry import format_validation_error, read_definition

    data = read_definition(pm, path)
    try:
        return TranslationFile.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(format_validation_error(path, data, exc)) from None


def check_file(app: App, path: Path) -> tuple[TranslationFile, list[str]]:
    """A translation file and what is wrong with it against its instrument."""
    found = load_translation_file(app.pm, path)
    instrument = app.instrument(found.translation_of)
    out = [f"{path}: {p}" for p in problems(instrument, found, found.language)]
    if found.language in instrument.translations:
        # The definition's own translation is the one used: this file was passed over
        # unsaid, while `psyq validate` called it ok.
        out.append(
            f"{path}: {instrument.id} '{found.language}' is already translated in its "
            "definition, which is the one used; remove one of the two"
        )
    if found.instrument_version != instrument.version:
        out.append(
            f"{path}: translates {instrument.id} v{found.instrument_version}, but the "
            f"installed {instrument.id} is v{instrument.version}"
        )
    return found, out


def languages(app: App, instrument: Instrument) -> list[str]:
    """Languages the instrument can be given in (besides its own)."""
    files = files_for(app.pm)
    extra = [lang for (iid, lang) in files.files if iid == instrument.id]
    return sorted(set(instrument.translations) | set(extra))


def translated(app: App, instrument: Instrument, language: str) -> Instrument:
    """``instrument`` in ``language``, or :class:`LanguageError` naming what exists."""
    return apply(instrument, translation_for(app, instrument, language))


def translation_for(app: App, instrument: Instrument, language: str) -> Translation:
    """The complete translation of ``instrument`` into ``language`` (its definition's,
    else a translation file's), or :class:`LanguageError` naming what exists."""
    translation: Translation | None = instrument.translations.get(language)
    where = "its definition"
    if translation is None:
        found = files_for(app.pm).files.get((instrument.id, language))
        if found is not None:
            translation, path = found
            where = str(path)
            if found[0].instrument_version != instrument.version:
                raise LanguageError(
                    f"{path}: translates {instrument.id} v{found[0].instrument_version}, not "
                    f"the installed v{instrument.version}; it cannot be used"
                )
    if translation is None:
        files = files_for(app.pm)
        known = ", ".join(languages(app, instrument)) or "none"
        # Shown as typed, unless that would break the one line (a tag ending in a newline).
        shown = (
            f"'{language}'"
            if language.isprintable() and len(language) <= 40
            else repr(language[:40])
        )
        broken = files.broken.get((instrument.id, language))
        if broken is not None:  # the file that gives this language, by what it names
            raise LanguageError(
                f"{instrument.id} has no {shown} translation: the file that gives it could "
                f"not be read: {broken}"
            )
        # A translation file psyq could not read may be the one meant: say why, never
        # only "available: none" beside a file the user can see.
        unread = files.problems
        why = (
            f"; {len(unread)} translation file(s) could not be read: {unread[0]}"
            + (" (psyq validate FILE names the rest)" if len(unread) > 1 else "")
            if unread
            else ""
        )
        raise LanguageError(
            f"{instrument.id} has no {shown} translation (available: {known}); "
            f"psyq never machine-translates or mixes languages in a form{why}"
        )
    missing = problems(instrument, translation, language)
    if missing:
        raise LanguageError(
            f"{instrument.id} {where}: {missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    return translation


def relabel(
    result: ScoreResult,
    shown: Instrument,
    gettext: Callable[[str], str] = str,
    original: Instrument | None = None,
) -> ScoreResult:
    """A score result with its band labels, flag messages and title in ``shown``'s words.

    ``shown`` is the scored instrument in another language (:func:`translated`):
    same ids, so only texts change; every number stays as scored. psyq's own flag
    (an unanswered critical item) is said through ``gettext``, quoting ``shown``'s item.
    With ``original`` (the instrument as scored), the notices it gave are said in
    ``shown``'s words and psyq's (:func:`notices_in`).
    """
    scores = {}
    for scale_id, score in result.scores.items():
        label = score.band_label
        if score.band is not None and scale_id in {s.id for s in shown.scales}:
            bands = shown.scale(scale_id).bands_for(result.client)  # the client's (AUDIT-C)
            band = next((b for b in bands if b.id == score.band), None)
            label = band.label if band is not None else label
        scores[scale_id] = score.model_copy(update={"band_label": label})
    flags = [flag_in(f, shown, gettext) for f in result.flags]
    instrument = result.instrument.model_copy(update={"title": shown.title})
    notices = result.notices
    if original is not None:
        notices = notices_in(result, original, shown, gettext)
    return result.model_copy(
        update={"scores": scores, "flags": flags, "instrument": instrument, "notices": notices}
    )


def notices_in(
    result: ScoreResult, original: Instrument, shown: Instrument, gettext: Callable[[str], str]
) -> list[str]:
    """``result``'s notices in ``shown``'s language: the instrument's own (its translated
    notice, psyq's provisional sentence) and psyq's on client-dependent cut-offs. A notice
    that is neither (another stage's) is kept as stored."""
    from psyq.models import PROVISIONAL_NOTICE
    from psyq.scoring import client_band_notices

    words: dict[str, str] = {}
    if len(original.notices) == len(shown.notices):  # a notice of its own in both, or none
        said = [gettext(n) if n == PROVISIONAL_NOTICE else n for n in shown.notices]
        words.update(zip(original.notices, said, strict=True))
    english = client_band_notices(original, result.client)
    worded = client_band_notices(shown, result.client, gettext)
    if len(english) == len(worded):
        words.update(zip(english, worded, strict=True))
    return [words.get(n, n) for n in result.notices]


def flag_in(flag: FlagHit, shown: Instrument, gettext: Callable[[str], str] = str) -> FlagHit:
    """``flag`` with its message in ``shown``'s language (the translation's message, or
    psyq's own for an unanswered critical item, quoting ``shown``'s item text)."""
    from psyq.models import CRITICAL_ITEM_FLAG, critical_unanswered_message

    message = next((f.message for f in shown.flags if f.id == flag.id), flag.message)
    items = {item.id: item.text for item in shown.items}
    if flag.id == CRITICAL_ITEM_FLAG and flag.item in items:
        message = critical_unanswered_message(flag.item, items[flag.item], gettext)
    return flag.model_copy(update={"message": message})


def translate_request(app: App, request: RenderRequest, language: str) -> None:
    """Put a report's instrument texts, band labels and flag messages in ``language``.

    Scores are not recomputed: the numbers are those scored; only words change.
    psyq's own strings follow ``request.options["language"]`` (gettext).
    """
    gettext = ui_language(language).gettext
    original = request.instrument
    translation = translation_for(app, original, language)
    shown = apply(original, translation)
    request.instrument = shown
    request.result = relabel(request.result, shown, gettext, original)
    said = english_notice(original, translation, gettext)
    if said is not None:  # an optional text not translated is shown in English, and said so
        request.result = request.result.model_copy(
            update={"notices": [*request.result.notices, said]}
        )
    request.history = [
        dataclasses.replace(past, result=relabel(past.result, shown, gettext, original))
        for past in request.history
    ]
    # report --latest: a later unfinished form's alert in the report's language too,
    # never the one English sentence in a translated safety alert.
    from psyq.results import FlagHit

    def flags_of(form: dict[str, Any], key: str = "flags") -> None:
        other = shown
        if form.get("instrument_id", shown.id) != shown.id:
            try:
                other = translated(app, app.instrument(form["instrument_id"]), language)
            except (LanguageError, DefinitionError, PsyqError):
                return  # that instrument has no such translation: its own words stay
        form[key] = [
            flag_in(FlagHit.model_validate(f), other, gettext).model_dump(mode="json")
            for f in form[key]
        ]

    for later in request.options.get("later_critical", []):
        flags_of(later)
    # A form moved to another client: its alert in the report's language too.
    for moved in request.options.get("left_client_outside_psyq", []):
        if moved.get("flags"):
            flags_of(moved)
    for kept in request.options.get("earlier_critical", []):  # answers changed through psyq
        kept["flags"] = [
            flag_in(FlagHit.model_validate(f), shown, gettext).model_dump(mode="json")
            for f in kept["flags"]
        ]
    request.options["language"] = language

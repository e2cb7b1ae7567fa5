"""One sentence for a prorated score, shared by every output.

Proration scales the answered items' sum up to all items, and can move a score
into another band (GAD-7: 9 from 6 of 7 answers is 11, Moderate; unprorated 9
would be Mild). Every output that shows a prorated score says so, in these words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from psyq.models import Scale
    from psyq.results import ScaleScore


def unprorated_value(scale: Scale, score: ScaleScore) -> float | None:
    """The value the answered items alone give (transform and rounding applied)."""
    from psyq.models import round_half_up

    if score.raw is None:
        return None
    x = scale.transform.apply(score.raw) if scale.transform else float(score.raw)
    return round_half_up(x, scale.decimals)


def proration_note(
    scale: Scale,
    score: ScaleScore,
    alert: bool = False,
    gettext: Callable[[str], str] | None = None,
) -> str | None:
    """``None`` unless ``score`` is prorated; else what was prorated and from what.

    ``prorated from 6 of 7 answers; band from 6 of 7 answers: unprorated 9 would
    be Mild`` when the band differs, ``prorated from 8 of 9 answers (unprorated
    24)`` when it does not. With ``alert`` (a critical flag is raised), a band of
    low concern named there is marked as the score's band only
    (:func:`psyq.results.band_shown`), as every output marks the score's own band.
    ``gettext``: in a report's language (the ``table`` format's ``--language``).
    """
    from psyq.results import band_shown

    if not score.prorated or score.value is None:
        return None
    _ = gettext or str
    words: dict[str, object] = {"answered": score.answered, "n": score.answered + score.missing}
    base = _("prorated from %(answered)s of %(n)s answers") % words
    plain = unprorated_value(scale, score)
    if plain is None:
        return base
    words.update(base=base, value=f"{plain:.{scale.decimals}f}")
    band = scale.band_for(plain)
    if band is not None and score.band is not None and band.id != score.band:
        words["band"] = band_shown(band.label, alert and band.low_concern, gettext)
        return (
            _(
                "%(base)s; band from %(answered)s of %(n)s answers: unprorated %(value)s "
                "would be %(band)s"
            )
            % words
        )
    return _("%(base)s (unprorated %(value)s)") % words

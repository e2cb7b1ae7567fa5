"""History with reliable change, and render requests for stored administrations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from psyq.app import App
from psyq.change import compare
from psyq.errors import PsyqError
from psyq.history import build_history, render_request_for, render_request_for_latest
from psyq.manager import PsyqPluginManager
from psyq.store import Administration, Status, Store


@pytest.fixture
def app(psyq_pm: PsyqPluginManager, psyq_home: Path) -> App:
    return App(psyq_pm, home=psyq_home)


@pytest.fixture
def store(app: App) -> Iterator[Store]:
    with app.open_store() as s:
        yield s


def add(
    app: App,
    store: Store,
    instrument_id: str,
    client: str,
    values: list[int | None],
    day: date,
    status: Status = "complete",
) -> Administration:
    inst = app.instrument(instrument_id)
    answers = {item.id: v for item, v in zip(inst.items, values, strict=False)}
    return store.add_administration(
        instrument=inst,
        client_id=client,
        answers=answers,
        result=app.scorer.score_valid(inst, answers),
        administered=day,
        status=status,
        position=len(values),
    )


def phq(total: int) -> list[int | None]:
    """PHQ-9 answers summing to ``total`` (item 9 stays 0: no flag)."""
    values: list[int | None] = []
    left = total
    for _ in range(8):
        values.append(min(3, left))
        left -= values[-1]
    assert left == 0
    return [*values, 0]


def who5(raw: int) -> list[int | None]:
    values: list[int | None] = []
    left = raw
    for _ in range(5):
        values.append(min(5, left))
        left -= values[-1]
    return values


def test_phq9_history_oldest_first_with_change(app: App, store: Store) -> None:
    add(app, store, "phq9", "C0042", phq(12), date(2026, 10, 1))  # entered out of order
    add(app, store, "phq9", "C0042", phq(19), date(2026, 9, 1))
    add(app, store, "phq9", "C0042", phq(8), date(2026, 11, 1))
    entries = build_history(app, store, "C0042")
    assert [e.result.total.value for e in entries] == [19, 12, 8]
    first, second, third = entries
    assert first.change is None and first.change_from_first is None
    doc = second.to_json()
    assert doc["change"]["total"] == {
        "delta": -7,
        "reliable": True,
        "direction": "improvement",
        "rci": None,
        "clinically_significant": False,  # 12 is still >= the cut-off of 10
        "important": None,  # the PHQ-9 threshold is reliable change, not a MID
    }
    # Response: (19 - 12) / 19 = 37 % < 50 %; remission: 12 is not below 5.
    assert doc["outcome"] == {"total": {"response": False, "remission": False}}
    # The first administration is the baseline: no response or remission to judge.
    assert first.to_json()["outcome"] is None
    assert doc["compared_with"] == {
        "previous": first.administration.id,
        "first": first.administration.id,
    }
    third_doc = third.to_json()
    assert third_doc["change"]["total"]["delta"] == -4
    assert third_doc["change"]["total"]["reliable"] is False
    assert third_doc["change_from_first"]["total"]["delta"] == -11
    assert third_doc["change_from_first"]["total"]["clinically_significant"] is True
    # (19 - 8) / 19 = 58 % >= 50 %: response; 8 is not below 5: no remission.
    assert third_doc["outcome"] == {"total": {"response": True, "remission": False}}
    # The entry is a superset of the `psyq score --json` object.
    assert {k: third_doc[k] for k in third.result.to_json()} == third.result.to_json()


def test_who5_improvement_is_upward(app: App, store: Store) -> None:
    add(app, store, "who5", "C0007", who5(10), date(2026, 9, 1))  # 40
    add(app, store, "who5", "C0007", who5(13), date(2026, 10, 1))  # 52
    add(app, store, "who5", "C0007", who5(9), date(2026, 11, 1))  # 36
    docs = [e.to_json() for e in build_history(app, store, "C0007", "who5")]
    up, down = docs[1]["change"]["total"], docs[2]["change"]["total"]
    # WHO-5's 10 points is a minimal important difference, not reliable change: a change
    # of 12 is "important", never "reliable", and clinical significance is unknown.
    assert (up["delta"], up["reliable"], up["important"], up["direction"]) == (
        12,
        False,
        True,
        "improvement",
    )
    assert up["clinically_significant"] is None
    assert (down["delta"], down["important"], down["direction"]) == (-16, True, "deterioration")
    assert docs[2]["outcome"] is None  # WHO-5 declares no response/remission
    assert docs[2]["change_from_first"]["total"]["direction"] == "deterioration"


def test_change_is_exactly_psyq_change_compare(app: App, store: Store) -> None:
    add(app, store, "ccts", "C0001", [1] * 16, date(2026, 9, 1))
    add(app, store, "ccts", "C0001", [3, 2] * 8, date(2026, 10, 1))
    inst = app.instrument("ccts")
    before, after = (e.result for e in build_history(app, store, "C0001"))
    entry = build_history(app, store, "C0001")[1]
    assert entry.change is not None
    for scale in inst.scales:
        expected = compare(scale, before.scores[scale.id].value, after.scores[scale.id].value)
        assert entry.change[scale.id] == expected
    # By hand (CCTS v0.2): item 13 is reverse-keyed (4 - answer). All 1s give
    # putting_first (1+1+1+3)/4 = 1.5, the other subscales 1, total 18/16 = 1.125 -> 1.13;
    # odd items 3 / even items 2 give putting_first (3+3+3+1)/4 = 2.5, protecting 2,
    # deflecting 3, helper_role 2, total 38/16 = 2.375 -> 2.38. The CCTS has no
    # reliable-change value and no cut-off.
    hand = {
        "putting_first": 1.0,
        "protecting": 1.0,
        "deflecting": 2.0,
        "helper_role": 1.0,
        "total": 1.25,
    }
    for scale_id, delta in hand.items():
        change = entry.change[scale_id]
        assert change is not None
        assert (change.delta, change.direction, change.reliable) == (delta, "deterioration", False)
        assert (change.rci, change.clinically_significant) == (None, None)


def test_instruments_clients_and_partials_are_kept_apart(app: App, store: Store) -> None:
    add(app, store, "phq9", "C0042", phq(15), date(2026, 9, 1))
    add(app, store, "gad7", "C0042", [1] * 7, date(2026, 9, 2))
    add(app, store, "phq9", "C0099", phq(3), date(2026, 9, 3))
    add(app, store, "phq9", "C0042", [1, 1], date(2026, 9, 4), status="partial")
    add(app, store, "phq9", "C0042", phq(9), date(2026, 9, 5))
    entries = build_history(app, store, "C0042")
    assert [(e.administration.instrument_id, e.result.total.value) for e in entries] == [
        ("phq9", 15),
        ("gad7", 7),
        ("phq9", 9),
    ]
    assert entries[1].change is None  # first GAD-7, not compared with a PHQ-9
    assert entries[2].change is not None and entries[2].change["total"] is not None
    assert entries[2].change["total"].delta == -6
    assert [e.administration.instrument_id for e in build_history(app, store, "C0042", "gad7")] == [
        "gad7"
    ]


def test_unknown_client_or_instrument(app: App, store: Store) -> None:
    with pytest.raises(PsyqError, match="no client 'C0404'"):
        build_history(app, store, "C0404")
    add(app, store, "phq9", "C0042", phq(5), date(2026, 9, 1))
    with pytest.raises(PsyqError, match="nope"):
        build_history(app, store, "C0042", "nope")


def test_render_request_for_has_earlier_history_only(app: App, store: Store) -> None:
    a = add(app, store, "phq9", "C0042", phq(20), date(2026, 8, 1))
    b = add(app, store, "phq9", "C0042", phq(14), date(2026, 9, 1))
    add(app, store, "gad7", "C0042", [2] * 7, date(2026, 9, 15))
    add(app, store, "phq9", "C0099", phq(4), date(2026, 9, 20))
    add(app, store, "phq9", "C0042", [1], date(2026, 9, 25), status="partial")
    c = add(app, store, "phq9", "C0042", phq(7), date(2026, 10, 1))
    add(app, store, "phq9", "C0042", phq(6), date(2026, 11, 1))  # later: not history of c

    request = render_request_for(app, c.id, store)
    assert request.result.total.value == 7
    assert request.instrument.id == "phq9"
    assert (request.client_id, request.administered) == ("C0042", date(2026, 10, 1))
    assert [
        (p.administered, p.result.total.value, p.administration_id) for p in request.history
    ] == [
        (date(2026, 8, 1), 20, str(a.id)),
        (date(2026, 9, 1), 14, str(b.id)),
    ]
    assert request.options["administration_id"] == c.id
    assert request.options["change"]["total"]["delta"] == -7
    assert request.options["change_from_first"]["total"]["clinically_significant"] is True

    first = render_request_for(app, str(a.id))  # as typed on a command line; opens the store
    assert first.history == [] and "change" not in first.options
    with pytest.raises(PsyqError, match="'latest' is not a number"):
        render_request_for(app, "latest")
    with pytest.raises(PsyqError, match="no administration 99"):
        render_request_for(app, 99, store)


def test_render_request_for_latest(app: App, store: Store) -> None:
    add(app, store, "phq9", "C0042", phq(20), date(2026, 8, 1))
    add(app, store, "gad7", "C0042", [2] * 7, date(2026, 9, 1))
    add(app, store, "phq9", "C0042", phq(10), date(2026, 10, 1))
    add(app, store, "gad7", "C0042", [1], date(2026, 12, 1), status="partial")

    latest = render_request_for_latest(app, "C0042", store=store)
    assert latest.instrument.id == "phq9" and latest.administered == date(2026, 10, 1)
    assert [p.result.total.value for p in latest.history] == [20]

    gad = render_request_for_latest(app, "C0042", "gad7", store=store)
    assert gad.result.total.value == 14 and gad.history == []

    with pytest.raises(PsyqError, match="no complete administration of who5"):
        render_request_for_latest(app, "C0042", "who5", store=store)

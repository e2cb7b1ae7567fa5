"""Cut-offs that depend on the client's sex (AUDIT-C, AUDIT): `client_bands`,
`--sex` / `--group sex=...`, and the sex stored with `psyq clients set`.

The expected bands are written from the publications, not from psyq's output:

* AUDIT-C (Bush et al. 1998; Bradley et al. 2003, 2007): positive at 4 or more for
  men, 3 or more for women; 0-12.
* AUDIT (WHO manual, Babor et al. 2001): zones I 0-7, II 8-15, III 16-19, IV 20-40;
  the cut-off is one point lower, 7, for women (and men over 65).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

CLI = Callable[..., Result]


def _auditc(total: int) -> str:
    """AUDIT-C answers summing to ``total`` (0: item 1 Never, items 2-3 skipped)."""
    if total == 0:
        return "0,,"
    a = max(1, min(4, total))
    rest = total - a
    b = min(4, rest)
    return f"{a},{b},{rest - b}"


# (total, sex given, band id, band label fragment) from the published cut-offs.
AUDITC = [
    (2, "female", "negative", "Negative"),
    (3, "female", "positive", "Positive"),
    (12, "female", "positive", "Positive"),
    (3, "male", "negative", "Negative"),
    (4, "male", "positive", "Positive"),
    (0, "male", "negative", "Negative"),
    # Unknown: 3 is positive for women only; psyq must say so rather than pick one.
    (3, None, "women_positive", "Positive for women only"),
    (2, None, "negative", "Negative"),
    (4, None, "positive", "Positive"),
]


@pytest.mark.parametrize(("total", "sex", "band", "label"), AUDITC)
def test_auditc_band_by_sex(
    psyq_cli: CLI, total: int, sex: str | None, band: str, label: str
) -> None:
    args = ["score", "auditc", "--answers", _auditc(total)]
    if sex:
        args += ["--sex", sex]
    doc = json.loads(psyq_cli(*args, "--json").output)
    assert doc["scores"]["total"]["value"] == total
    assert doc["scores"]["total"]["band"] == band
    assert doc["scores"]["total"]["band_label"].startswith(label)
    table = psyq_cli(*args).output
    if sex is None:
        assert "client" not in doc
        assert any("sex is not known" in n and "assumes no sex" in n for n in doc["notices"])
        assert "sex is not known" in table
    else:
        assert doc["client"] == {"sex": sex}
        assert any(f"sex={sex}" in n and "Bradley" in n for n in doc["notices"])
        assert f"cut-offs for clients with sex={sex}" in table


@pytest.mark.parametrize(
    ("args", "band"),
    [
        (["--group", "sex=f"], "positive"),
        (["--group", "sex=Female"], "positive"),
        (["--sex", "M"], "negative"),
        (["--sex", "unknown"], "women_positive"),
        (["--sex", "other"], "women_positive"),  # no published cut-off for `other`
    ],
)
def test_group_and_sex_spellings(psyq_cli: CLI, args: list[str], band: str) -> None:
    out = psyq_cli("score", "auditc", "--answers", "3,0,0", "--json", *args)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["scores"]["total"]["band"] == band


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sex", "x"], "--sex: sex 'x' is not one of female, male, other, unknown"),
        (["--sex", "female", "--group", "sex=m"], "disagree"),
        (["--group", "sex=q"], "--group: sex 'q' is not one of"),
    ],
)
def test_bad_sex_is_one_line(psyq_cli: CLI, args: list[str], message: str) -> None:
    out = psyq_cli("score", "auditc", "--answers", "3,0,0", *args)
    assert out.exit_code == 2
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


# AUDIT: 7 is zone II for women (WHO: cut-off 7), zone I for men; unknown: its own band.
@pytest.mark.parametrize(
    ("answers", "sex", "band"),
    [
        ("3,3,1,0,0,0,0,0,0,0", "female", "zone_ii"),
        ("3,3,1,0,0,0,0,0,0,0", "male", "zone_i"),
        ("3,3,1,0,0,0,0,0,0,0", None, "zone_ii_women"),
        ("3,3,0,0,0,0,0,0,0,0", "female", "zone_i"),  # 6
        ("4,4,0,0,0,0,0,0,0,0", "male", "zone_ii"),  # 8
        ("4,4,4,4,0,0,0,0,0,0", "female", "zone_iii"),  # 16: same for both
    ],
)
def test_audit_womens_cutoff(psyq_cli: CLI, answers: str, sex: str | None, band: str) -> None:
    args = ["score", "audit", "--answers", answers, "--json"]
    doc = json.loads(psyq_cli(*args, *(["--sex", sex] if sex else [])).output)
    assert doc["scores"]["total"]["band"] == band


def test_sex_is_ignored_where_cutoffs_do_not_depend_on_it(psyq_cli: CLI) -> None:
    plain = json.loads(psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--json").output)
    given = psyq_cli("score", "phq9", "--answers", "1,1,1,1,1,1,1,1,0", "--json", "--sex", "f")
    assert json.loads(given.output) == plain


def test_report_names_the_cutoffs_used(psyq_cli: CLI, tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    made = psyq_cli(
        "report", "auditc", "--answers", "3,0,0", "--client", "C1", "--sex", "female",
        "-o", str(html),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    text = html.read_text(encoding="utf-8")
    assert "cut-offs for clients with sex=female" in text
    assert "At or above the cut-off for women" in text
    unknown = tmp_path / "u.html"
    psyq_cli("report", "auditc", "--answers", "3,0,0", "--client", "C1", "-o", str(unknown))
    text = unknown.read_text(encoding="utf-8")
    assert "sex is not known" in text
    assert "Positive for women only" in text


# -- the sex stored with the client -----------------------------------------------------


def _ok(cli: CLI, *args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


def _bands(cli: CLI, client: str) -> list[str]:
    docs = json.loads(_ok(cli, "history", client, "--json").output)
    return [d["scores"]["total"]["band"] for d in docs]


def test_stored_sex_chooses_the_bands_and_every_change_is_kept(
    psyq_cli: CLI, psyq_home: Path
) -> None:
    _ok(
        psyq_cli,
        "record",
        "auditc",
        "--client",
        "C0042",
        "--date",
        "2026-09-01",
        "--answers",
        "3,0,0",
    )
    _ok(
        psyq_cli,
        "record",
        "auditc",
        "--client",
        "C0042",
        "--date",
        "2026-10-01",
        "--answers",
        "2,1,1",
    )
    # Sex not recorded: 3 assumes neither sex; the history says so.
    assert _bands(psyq_cli, "C0042") == ["women_positive", "positive"]
    assert "sex is not known" in _ok(psyq_cli, "history", "C0042").output

    done = _ok(psyq_cli, "clients", "set", "C0042", "--sex", "female").output
    assert "client C0042: sex female (was not recorded)" in done
    assert "administration 1: total 3 (Positive for women only" in done
    assert "-> 3 (Positive)" in done
    # Bradley et al. 2007: women 3 or more.
    assert _bands(psyq_cli, "C0042") == ["positive", "positive"]
    history = _ok(psyq_cli, "history", "C0042").output
    assert "cut-offs for clients with sex=female" in history

    done = _ok(psyq_cli, "clients", "set", "C0042", "--sex", "male").output
    assert "sex male (was female); the earlier value is kept as client version 1" in done
    # Men 4 or more: 3 is negative, 4 positive.
    assert _bands(psyq_cli, "C0042") == ["negative", "positive"]
    # A new record uses the recorded sex at once.
    out = _ok(
        psyq_cli,
        "record",
        "auditc",
        "--client",
        "C0042",
        "--date",
        "2026-11-01",
        "--answers",
        "1,1,1",
    )
    assert "Negative" in out.output and "sex=male" in out.output

    listing = json.loads(_ok(psyq_cli, "clients", "--json").output)
    assert listing[0]["attributes"] == {"sex": "male"}
    assert "sex male" in _ok(psyq_cli, "clients").output
    shown = json.loads(_ok(psyq_cli, "clients", "show", "C0042", "--json").output)
    assert shown["attributes"] == {"sex": "male"}
    assert [v["attributes"] for v in shown["earlier"]] == [{"sex": "female"}]
    # Setting the same value again changes nothing and writes nothing.
    assert "already male" in _ok(psyq_cli, "clients", "set", "C0042", "--sex", "m").output
    assert (
        len(json.loads(_ok(psyq_cli, "clients", "show", "C0042", "--json").output)["earlier"]) == 1
    )
    # Each score version is kept: administration 1 was scored three times.
    verified = _ok(psyq_cli, "audit", "verify").output
    assert verified.startswith("audit OK")

    # `unknown` is recorded, and brings back the bands that assume neither sex.
    _ok(psyq_cli, "clients", "set", "C0042", "--sex", "unknown")
    assert _bands(psyq_cli, "C0042") == ["women_positive", "positive", "women_positive"]


def test_sex_changed_outside_psyq_is_caught(psyq_cli: CLI, psyq_home: Path) -> None:
    import sqlite3

    _ok(psyq_cli, "clients", "set", "C0042", "--sex", "female")
    conn = sqlite3.connect(psyq_home / "psyq.db")
    conn.execute("UPDATE clients SET attributes = '{\"sex\": \"male\"}' WHERE id = 'C0042'")
    conn.commit()
    conn.close()
    verify = psyq_cli("audit", "verify")
    assert verify.exit_code == 1 and "client C0042: stored content" in verify.output
    refused = psyq_cli("clients", "set", "C0042", "--sex", "female")
    assert refused.exit_code == 1 and "nothing recorded" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["clients", "set", "Jane", "--sex", "female"], "not a valid pseudonymous id"),
        (["clients", "set", "C1", "--sex", "yes"], "--sex: sex 'yes' is not one of"),
        (["clients", "set", "C1"], "Missing option '--sex'"),
        (["clients", "show", "C404"], "no client 'C404'"),
    ],
)
def test_clients_set_mistakes(psyq_cli: CLI, args: list[str], message: str) -> None:
    out = psyq_cli(*args)
    assert out.exit_code == 2 and message in out.stderr, out.output


def test_stored_report_uses_the_recorded_sex(psyq_cli: CLI, tmp_path: Path) -> None:
    _ok(psyq_cli, "clients", "set", "C0042", "--sex", "female")
    _ok(psyq_cli, "record", "auditc", "--client", "C0042", "--answers", "3,0,0")
    html = tmp_path / "r.html"
    _ok(psyq_cli, "report", "--administration", "1", "-o", str(html))
    text = html.read_text(encoding="utf-8")
    assert "At or above the cut-off for women" in text
    refused = psyq_cli("report", "--administration", "1", "--sex", "male", "-o", str(html))
    assert refused.exit_code == 2 and "recorded sex" in refused.stderr


# -- batch: a `sex` column ----------------------------------------------------------------


def test_batch_sex_column(psyq_cli: CLI, tmp_path: Path) -> None:
    import csv

    src = tmp_path / "a.csv"
    src.write_text(
        "client_id,date,sex,auditc_1,auditc_2,auditc_3\n"
        "C1,2026-09-01,female,3,0,0\n"  # 3, woman: positive
        "C2,2026-09-01,male,3,0,0\n"  # 3, man: negative
        "C3,2026-09-01,,3,0,0\n"  # 3, not known: women_positive
        "C4,2026-09-01,M,2,1,1\n"  # 4, man: positive
        "C5,2026-09-01,yes,3,0,0\n",  # bad sex: this row's error only
        encoding="utf-8",
    )
    out = tmp_path / "out"
    for jobs in ("1", "2"):
        result = psyq_cli(
            "batch", str(src), "--instrument", "auditc", "--out", str(out), "--force",
            "--jobs", jobs,
        )  # fmt: skip
        assert result.exit_code == 1, result.output  # one bad row
        with (out / "scores.csv").open(encoding="utf-8") as fh:
            scores = list(csv.DictReader(fh))
        assert [(r["client_id"], r["total_band"]) for r in scores] == [
            ("C1", "positive"),
            ("C2", "negative"),
            ("C3", "women_positive"),
            ("C4", "positive"),
        ]
        errors = (out / "errors.csv").read_text(encoding="utf-8")
        assert "row 6: sex 'yes' is not one of" in errors


def test_batch_sex_column_only_where_cutoffs_depend_on_it(psyq_cli: CLI, tmp_path: Path) -> None:
    src = tmp_path / "p.csv"
    src.write_text("client_id,sex,phq2_1,phq2_2\nC1,female,1,1\n", encoding="utf-8")
    result = psyq_cli("batch", str(src), "--instrument", "phq2", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "'sex'" in result.stderr and "not items" in result.stderr


def test_administer_uses_the_recorded_sex(psyq_cli: CLI) -> None:
    _ok(psyq_cli, "clients", "set", "C0042", "--sex", "female")
    out = psyq_cli("administer", "auditc", "--client", "C0042", input="3\n0\n0\n")
    assert out.exit_code == 0, out.output
    assert "cut-offs for clients with sex=female" in out.output
    assert _bands(psyq_cli, "C0042") == ["positive"]


# -- report texts a clinician reads ------------------------------------------------------


@pytest.mark.parametrize(
    ("instrument_id", "answers", "caption"),
    [
        # DASS-21: sums (x 2), each on its own range; the subscales have bands, the total none.
        (
            "dass21",
            ",".join(["1"] * 21),
            "score as a share of its own range; higher means more of what it measures; bars "
            "with bands (Depression, Anxiety, Stress) are coloured by their band",
        ),
        # CCTS v0.2: means on 0-4, no bands anywhere.
        ("ccts", ",".join(["2"] * 16), "mean item score on the common 0-4 range"),
    ],
)
def test_profile_caption_is_true_for_the_instrument(
    psyq_cli: CLI, tmp_path: Path, instrument_id: str, answers: str, caption: str
) -> None:
    html = tmp_path / "r.html"
    _ok(psyq_cli, "report", instrument_id, "--answers", answers, "--client", "C1", "-o", str(html))
    text = html.read_text(encoding="utf-8").replace("&#39;", "'")
    assert caption in text
    assert "Subscales have no bands; the total is coloured by its band" not in text


def test_show_lists_every_set_of_cutoffs(psyq_cli: CLI) -> None:
    out = _ok(psyq_cli, "show", "auditc").output
    unknown = out.index("sex not known:")
    women = out.index("for sex=female (Bradley et al. 2003, 2007")
    men = out.index("for sex=male (Bush et al. 1998")
    assert unknown < women < men
    assert "3-12  Positive" in out[women:men] and "4-12  Positive" in out[men:]
    assert "0-3  Negative" in out[men:]

"""Band labels in a report's band chart fit inside their band or are left out: a narrow
band (EPDS 'Possible depression', 10-12 of 0-30; AUDIT-C 'Positive for women only') once
printed its label cut off and over its neighbour. The client's band is named in the
caption and the scores table whatever the chart shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from psyq.testing import CLI

RECT = re.compile(r'<rect x="([\d.]+)" y="20" width="([\d.]+)"')
TEXT = re.compile(r'<text x="([\d.]+)" y="35" font-size="(\d+)"[^>]*>([^<]*)</text>')
# DejaVu Sans's widest common letters (m, w, W) are under 0.9 em and its average near 0.6:
# a label wider than 0.55 em per character cannot fit in less room.
MIN_EM_PER_CHAR = 0.55


def charts(html: str) -> list[str]:
    return re.findall(r'<figure class="band-chart">.*?</figure>', html, re.S)


@pytest.mark.parametrize(
    ("instrument", "answers", "narrow"),
    [
        ("epds", "1,1,1,2,2,1,2,1,2,2", "Possible depression"),
        ("auditc", "2,1,0", "Positive for women only"),
        ("phq9", "1,1,1,1,1,1,1,1,0", None),
    ],
)
def test_every_band_label_fits_inside_its_band(
    psyq_cli: CLI, tmp_path: Path, instrument: str, answers: str, narrow: str | None
) -> None:
    out = tmp_path / "r.html"
    result = psyq_cli("report", instrument, "--answers", answers, "--client", "C-1", "-o", out)
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    found = charts(html)
    assert found, "the report has a band chart"
    labels = 0
    for chart in found:
        rects = [(float(x), float(w)) for x, w in RECT.findall(chart)]
        for x, size, label in TEXT.findall(chart):
            centre = float(x)
            seg_w = next(rw for rx, rw in rects if rx <= centre <= rx + rw)
            assert len(label) * MIN_EM_PER_CHAR * int(size) <= seg_w, (label, size, seg_w)
            labels += 1
    assert labels >= 1, "wide bands keep their labels"
    if narrow is not None:
        drawn = [label for chart in found for _, _, label in TEXT.findall(chart)]
        assert narrow not in drawn, drawn

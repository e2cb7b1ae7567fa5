"""``psyq demo``: score the bundled sample administrations and write their reports.

The samples (``instruments/samples/demo.yaml``) are fictional clients. The
demo writes one file per administration for each output format it asks for
(PDF when a ``pdf`` format is installed, and JSON always), so a new user sees
the whole pipeline work with one command.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from psyq.app import App
from psyq.files import private_dir, write_atomic
from psyq.hookspecs import hookimpl
from psyq.plugins.data_files import load_data

DEMO_FORMATS = ("pdf", "html", "json")


def demo_samples() -> list[dict[str, Any]]:
    from psyq.plugins.builtin_instruments import builtin_instruments_dir

    path = builtin_instruments_dir() / "samples" / "demo.yaml"
    data = load_data(path, path.read_bytes())
    samples: list[dict[str, Any]] = data["administrations"]
    return samples


def safe_name(*parts: str) -> str:
    """A file name from client, instrument and date, with nothing but [A-Za-z0-9._-]."""
    joined = "_".join(parts)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", joined).strip(".-") or "report"


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("psyq-demo"),
    show_default=True,
    help="Directory for the reports.",
)
@click.pass_obj
def demo_command(app: App, out_dir: Path) -> None:
    """Score bundled sample answers for every built-in instrument and write reports."""
    from psyq.outputs import PastScore, RenderRequest, output_formats

    formats = output_formats(app.pm)
    wanted = [formats[name] for name in DEMO_FORMATS if name in formats]
    private_dir(out_dir)  # 0700 whatever the umask, as every folder psyq fills with reports
    written = 0
    # Earlier administrations of the same client and instrument, so the demo's
    # later reports show a trend chart (samples are listed oldest first).
    past: dict[tuple[str, str], list[PastScore]] = {}
    for sample in demo_samples():
        instrument = app.instrument(sample["instrument"])
        result = app.scorer.score(instrument, sample["answers"])
        when = sample.get("date")
        key = (str(sample["client"]), instrument.id)
        history = list(past.get(key, []))
        if isinstance(when, date):
            past.setdefault(key, []).append(PastScore(administered=when, result=result))
        request = RenderRequest(
            result=result,
            instrument=instrument,
            client_id=str(sample["client"]),
            administered=when if isinstance(when, date) else None,
            clinician=sample.get("clinician"),
            note=sample.get("note"),
            generated_at=datetime.now().astimezone(),
            history=history,
        )
        total = result.total
        from psyq.results import band_shown, low_concern_bands

        marked = "total" in low_concern_bands(instrument, result, bool(result.critical))
        band = band_shown(total.band_label, marked) or total.reason or ""
        flags = f"  flags: {', '.join(f.id for f in result.flags)}" if result.flags else ""
        click.echo(
            f"{sample['client']:<10} {instrument.short_name:<8} total {total.value}  {band}{flags}"
        )
        stem = safe_name(str(sample["client"]), instrument.id, str(when or ""))
        for fmt in wanted:
            target = out_dir / f"{stem}{fmt.suffix}"
            data = fmt.render(request)
            write_atomic(target, data)
            written += 1
    click.echo(f"wrote {written} file(s) to {out_dir}/")


@hookimpl
def psyq_register_commands() -> list[click.Command]:
    return [demo_command]

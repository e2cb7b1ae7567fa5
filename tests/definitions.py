"""Small instruments for tests, written as definition files are.

A test about the risk net, the condition language, scoring paths or analysis needs a
short instrument of its own, often with a critical item; every such file starts with
the same head (identity, licence, status, a frequency answer scale). :func:`definition`
writes that head, so a test writes only what it is about: its items, scales and flags.
"""

from __future__ import annotations

import textwrap

FREQUENCY = ("Never", "Sometimes", "Often", "Always")
"""The ``freq`` answer labels, valued 0, 1, 2, ..."""


def definition(
    instrument_id: str,
    body: str,
    *,
    title: str,
    short_name: str,
    status: str = "provisional",
    version: str = "1",
    levels: int = 4,
    missing: dict[int, str] | None = None,
    other_scales: str = "",
) -> str:
    """A definition file's text: the shared head, then ``body`` (items, scales, flags).

    The ``freq`` answer scale has ``levels`` options (0 Never, 1 Sometimes, 2 Often,
    3 Always), then one option per ``missing`` entry (value: label) that counts as
    missing; ``other_scales`` adds more answer scales, written as under
    ``response_scales:``. ``body`` is dedented.
    """
    options = [f"      - {{value: {v}, label: {FREQUENCY[v]}}}\n" for v in range(levels)]
    options += [
        f"      - {{value: {value}, label: {label}, missing: true}}\n"
        for value, label in (missing or {}).items()
    ]
    return (
        f"id: {instrument_id}\n"
        f'version: "{version}"\n'
        f"title: {title}\n"
        f"short_name: {short_name}\n"
        "licence: test\n"
        f"status: {status}\n"
        "response_scales:\n"
        "  freq:\n"
        "    options:\n"
        + "".join(options)
        + textwrap.indent(textwrap.dedent(other_scales), "  ")
        + textwrap.dedent(body)
    )

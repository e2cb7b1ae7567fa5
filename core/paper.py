"""The page sizes a report may be printed on.

A module of its own, so that ``psyq report``'s ``--paper`` choices are known at
start-up without loading :mod:`psyq.outputs` (which re-exports them).
"""

PAPER_SIZES = {"a4": "A4", "letter": "letter"}
"""Page sizes a report may ask for (``options["paper"]``) and the CSS ``@page`` size each sets."""

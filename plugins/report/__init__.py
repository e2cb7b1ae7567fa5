"""Clinician reports: built-in sections, the HTML and PDF formats, ``psyq report``."""

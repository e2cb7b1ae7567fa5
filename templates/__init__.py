"""Jinja2 templates and assets for psyq reports (package data)."""

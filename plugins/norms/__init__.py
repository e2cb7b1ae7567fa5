"""Norms: ``psyq norms build``, and norm-referenced scores in reports."""

"""Plain output formats: the score table and JSON."""

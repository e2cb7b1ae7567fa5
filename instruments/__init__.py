"""Built-in instrument definitions (YAML data files, never code)."""

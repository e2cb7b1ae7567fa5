"""CLI commands: instruments, scoring, the store, administering, tooling."""

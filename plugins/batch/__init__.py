"""``psyq batch`` and the executors it can run on."""

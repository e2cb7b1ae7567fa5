"""Sample data for `psyq demo` and the benchmarks (fictional clients)."""

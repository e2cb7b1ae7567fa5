"""REDCap: data dictionaries in and out, record exports through ``psyq batch``."""

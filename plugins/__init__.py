"""psyq's default plugins: every feature beyond the core, written against the hookspecs.

:data:`DEFAULT_PLUGINS` lists them in registration order. Each module is
small and holds one idea; heavy libraries are imported inside the functions
that need them, so loading every default plugin stays fast.
"""

DEFAULT_PLUGINS: tuple[str, ...] = (
    "psyq.plugins.data_files",
    "psyq.plugins.builtin_instruments",
    "psyq.plugins.scoring_stages",
    "psyq.plugins.output_table",
    "psyq.plugins.output_json",
    "psyq.plugins.commands_instruments",
    "psyq.plugins.commands_score",
    "psyq.plugins.commands_plugins",
    "psyq.plugins.demo",
    "psyq.plugins.report_sections",
    "psyq.plugins.report_html",
    "psyq.plugins.report_pdf",
    "psyq.plugins.commands_report",
    "psyq.plugins.doctor",
    "psyq.plugins.scaffold",
    "psyq.plugins.commands_store",
    "psyq.plugins.administer",
    "psyq.plugins.commands_batch",
    "psyq.plugins.executor_dask",
    "psyq.plugins.answer_documents",
    "psyq.plugins.fhir_answers",
    "psyq.plugins.fhir_export",
    "psyq.plugins.fhir_import",
)

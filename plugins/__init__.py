"""psyq's default plugins: every feature beyond the core, written against the hookspecs.

Core lists them by module name (:data:`psyq.manager.DEFAULT_PLUGINS`). Each
module is small and holds one idea; a concern that spans modules has a folder:

``commands/``  the CLI commands of the clinician workflow and the tooling
``output/``    the plain output formats (table, json)
``report/``    report sections, the HTML and PDF formats and ``psyq report``
``batch/``     ``psyq batch`` and its Dask executor
``fhir/``      HL7 FHIR answers in, Bundles out, Questionnaires imported

Heavy libraries are imported inside the functions that need them, so loading
every default plugin stays fast.
"""

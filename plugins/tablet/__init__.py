"""Client self-report on a tablet: ``psyq serve`` and ``psyq kiosk start|status|stop``.

* :mod:`.sessions` keeps kiosk sessions (one-time codes, where each tablet is)
  in a private SQLite file beside the store; light, used by the CLI and the server.
* :mod:`.flow` moves a tablet through its forms, saving every answer through
  the same :class:`psyq.plugins.commands.administer.Session` that ``administer`` uses.
* :mod:`.clinician` is what the clinician sees (``kiosk status``, the serve terminal).
* :mod:`.web` is the web application (Starlette, Jinja2): imported by ``serve`` only.
* :mod:`.command` registers the commands.
"""

"""What each ``pesweep`` command accepts: its arguments, defaults and help, one module per group.

A parser names its handler as ``GROUP:FUNCTION`` in :mod:`hpo.cli.commands`,
imported only when the command runs (:func:`hpo.cli.main.command_handler`).
"""

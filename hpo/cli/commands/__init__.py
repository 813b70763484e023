"""What each ``pesweep`` command does: the handlers, one module per command group.

A module here is imported only when one of its commands runs; the
arguments are :mod:`hpo.cli.parsers`'.
"""

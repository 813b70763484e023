"""The ``pesweep`` command line: the parser, its argument types and one module per command group."""

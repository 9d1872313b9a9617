"""The ``axon`` command line: ``serve`` (everything on one machine), ``api``, ``worker``, ``db``."""

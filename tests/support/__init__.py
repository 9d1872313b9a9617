"""What the test suites share, in one place (never a copy in a suite, nor in bench/):

- ``specs``: the network specs the suites train, and the spiral they train on;
- ``rows``: rows written straight to the database as the API or the worker would, and read back;
- ``calls``: requests to the API through a test client;
- ``processes``: commands run as real processes (``axon``, gunicorn, celery), started,
  waited on and stopped as a group; ``services``: the Celery worker and the API on a real socket;
- ``live``: a live ``axon serve`` and ``axon`` commands against it;
- ``databases``: throwaway migrated PostgreSQL and SQLite databases; ``isolation``: an import in a
  fresh interpreter with some packages blocked; ``threads``: code on several threads at once;
- ``schemathesis_hooks``: the hooks that steer Schemathesis to real rows (the suite and bench/fuzz.py).
"""

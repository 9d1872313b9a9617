"""The server's commands of the ``axon`` command line, and the processes they run.

``serve``, ``api`` and ``worker`` (``serving``), ``db upgrade`` and ``settings`` (``configuration``)
and the operator's ``keys`` (``keys``) read the ``AXON_*`` settings of ``service.settings``; the
supervisor (``supervisor``) and each API process (``http_server``) are what ``serve`` and ``api``
start. ``axon.cli`` adds these commands to the client's: every module here imports only click and
the standard library when it loads, and each command says it needs the server extra
(``pip install 'axon[server]'``) before it imports anything of the server.
"""

from .configuration import db, show_settings
from .keys import keys
from .serving import api, serve, worker

SERVER_COMMANDS = (serve, api, worker, db, show_settings, keys)

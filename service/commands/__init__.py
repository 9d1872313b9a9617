"""The server's commands of the ``axon`` command line, and the processes they run."""

"""``python -m axon``: the same as the ``axon`` console script."""

from axon.cli import main

main()

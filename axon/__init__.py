"""Axon's Python client (``axon.Client``) and the ``axon`` command line (``axon.cli``)."""

from axon.client import (AxonError, AxonUnavailable, Client, Conflict, InvalidRequest, NotFound, Prediction,
                         ServerError)

__all__ = ["AxonError", "AxonUnavailable", "Client", "Conflict", "InvalidRequest", "NotFound", "Prediction",
           "ServerError"]

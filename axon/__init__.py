"""Axon's Python client (``axon.Client``) and the ``axon`` command line (``axon.cli``)."""

from axon.client import (AxonError, AxonUnavailable, Client, Conflict, EndEvent, EpochEvent, InvalidRequest, NotFound,
                         Prediction, ServerError, TooManyRequests, Unauthorized)

__all__ = ["AxonError", "AxonUnavailable", "Client", "Conflict", "EndEvent", "EpochEvent", "InvalidRequest",
           "NotFound", "Prediction", "ServerError", "TooManyRequests", "Unauthorized"]

"""Errors of the verifiers package."""

from __future__ import annotations

from caravan.errors import CaravanError


class VerificationError(CaravanError):
    """A verifier could not reach a verdict (timeout, crashed worker, unreadable label).

    Callers record it as an error for the row and never turn it into a made-up score.
    """

"""Errors with messages meant for the person running a stage."""


class UDError(Exception):
    """Base class: something the user can fix, said plainly."""


class ParamError(UDError):
    """An invalid value in params.yaml (the message names the key, the value and what is allowed)."""


class DataError(UDError):
    """Missing or malformed input data."""

"""The error a dataset loader raises when its files are missing."""

from ..errors import MissingFileError


class DatasetNotFoundError(MissingFileError):
    """A dataset's files are not where the loader looked; the message says where and how to get them."""

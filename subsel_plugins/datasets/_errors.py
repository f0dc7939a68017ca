from ..errors import MissingFileError


class DatasetNotFoundError(MissingFileError):
    """A dataset's files are not where the loader looked; the message says where and how to get them."""

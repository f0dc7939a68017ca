class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not where the loader looked; the message says where and how to get them."""

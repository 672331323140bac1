"""Errors that name the file a user gave and what is wrong with it."""

from os import PathLike

__all__ = ["InputFileError"]


class InputFileError(ValueError):
    """A file given to the package cannot be used.

    The message always starts with the path, so that a user with thousands of
    files knows which one to look at.

    Arguments
    ---------
    path : str or PathLike
        The offending file or folder.
    problem : str
        What is wrong with it, in words a user can act on.

    Example
    -------
    >>> err = InputFileError("Session1/x.wav", "truncated RIFF data")
    >>> str(err)
    'Session1/x.wav: truncated RIFF data'
    >>> err.path, err.problem
    ('Session1/x.wav', 'truncated RIFF data')
    """

    def __init__(self, path: str | PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

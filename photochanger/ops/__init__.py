"""Operations on a whole deployment: ``flask backup`` and ``flask restore``.

Used by the CLI only; nothing here runs while serving requests.
"""


class BackupError(Exception):
    """A backup or restore cannot go on; the message says why and what to do."""

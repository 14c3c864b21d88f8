"""User-facing errors.

A :class:`GbenchError` is a problem with the user's input or environment (a
missing file, an unknown name, images of the wrong dtype). Its message names
the problem and the fix in one line; the CLI prints it and exits with code 2,
without a traceback. Anything else that escapes is a bug in gbench.
"""


class GbenchError(Exception):
    """An input or environment problem that the user can fix.

    The message is one line: what is wrong, then how to fix it. ``details``
    (optional, any number of lines: e.g. the message of the library error behind
    it) are printed by the CLI only with ``--verbose``.
    """

    def __init__(self, message: str = "", details: str = ""):
        super().__init__(message)
        self.details = details

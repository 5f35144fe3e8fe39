"""The one exception family softloop raises for problems a user can fix.

Every layer (`prompts`, `critics`, `agent`) raises subclasses of `SoftloopError` with a message
that is one readable sentence saying what is wrong and what to do. The CLI prints that sentence
and exits non-zero instead of showing a traceback. It lives in `prompts` because that is the
bottom layer: everything else may import it, and it imports nothing.
"""


class SoftloopError(Exception):
    """A user-fixable problem; `str(err)` is the whole message."""

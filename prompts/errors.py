"""The one exception family softloop raises for problems a user can fix.

Every layer (`prompts`, `critics`, `agent`) raises subclasses of `SoftloopError` with a message
that is one readable sentence saying what is wrong and what to do. The CLI prints that sentence
and exits non-zero instead of showing a traceback. It lives in `prompts` because that is the
bottom layer: everything else may import it, and it imports nothing.
"""


class SoftloopError(Exception):
    """A user-fixable problem; `str(err)` is the whole message."""


class PromptFileError(SoftloopError):
    """A prompt file or directory is missing, corrupt, unsafe (pickle) or inconsistent."""


class PromptMismatchError(SoftloopError):
    """A prompt was made for a different base model than the one it is used with."""


class ConfigError(SoftloopError, ValueError):
    """A configuration value is out of range; the message names the value and the fix."""


class DataFileError(SoftloopError):
    """A training data file cannot be read; the message names the line."""

"""The errors fla reports to a user as one line (the command exits 2 and leaves no output behind)."""


class FlaError(ValueError):
    """Bad input; the message says what was expected and how to fix it."""


class ConfigError(FlaError):
    """A configuration value is out of range; the message names the flag or key and what it expects."""


class DataError(FlaError):
    """A data file is missing or malformed; the message names the file and where it was looked for."""

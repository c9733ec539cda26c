"""The errors fla reports to a user as one line (the command exits 2 and leaves no output
behind)."""


class FlaError(ValueError):
    """Bad input; the message says what was expected and how to fix it."""


class ConfigError(FlaError):
    """A configuration value is out of range; the message names the flag or key and what it
    expects."""


class DataError(FlaError):
    """A data file is missing or malformed; the message names the file and where it was looked
    for."""


class DamagedRunError(FlaError):
    """Configurations whose manifest does not verify: each named with what is wrong."""

    def __init__(self, damaged: dict):
        """The error naming every damaged configuration.

        Args:
            damaged: {folder: what is wrong}.
        """
        self.damaged = damaged
        names = "; ".join(f"{path}: {problem}" for path, problem in damaged.items())
        super().__init__(
            f"{len(damaged)} damaged configuration(s), not used: {names}. Rerun the sweep "
            "(it redoes them) or remove them"
        )


class NonFiniteError(FlaError):
    """A run finished and recorded faithfully, but some of its values are not finite."""

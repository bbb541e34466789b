"""Errors a plugin raises: a kind the host understands and a message the user reads."""

CONFIG = "config"
CONNECTION = "connection"
SOURCE = "source"
UNSUPPORTED = "unsupported"
INTERNAL = "internal"

KINDS = (CONFIG, CONNECTION, SOURCE, UNSUPPORTED, INTERNAL)


class Error(Exception):
    """A plugin error. Raise it from `ping`, `start_sync` or a sync's batches;
    any other exception reaches the host as an `internal` error (a bug)."""

    def __init__(self, kind: str, message: str):
        if kind not in KINDS:
            raise ValueError(f"error kind {kind!r} is not one of {', '.join(KINDS)}")
        super().__init__(message)
        self.kind = kind
        self.message = message

    @classmethod
    def config(cls, message: str) -> "Error":
        """The configuration is wrong."""
        return cls(CONFIG, message)

    @classmethod
    def connection(cls, message: str) -> "Error":
        """The source cannot be reached or refused the credentials."""
        return cls(CONNECTION, message)

    @classmethod
    def source(cls, message: str) -> "Error":
        """The source answered with an error while reading."""
        return cls(SOURCE, message)

    @classmethod
    def unsupported(cls, message: str) -> "Error":
        """The request asks for something the plugin does not support."""
        return cls(UNSUPPORTED, message)

    @classmethod
    def internal(cls, message: str) -> "Error":
        """A bug in the plugin."""
        return cls(INTERNAL, message)

    def __repr__(self) -> str:
        return f"Error({self.kind!r}, {self.message!r})"

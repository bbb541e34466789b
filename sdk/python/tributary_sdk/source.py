"""What a plugin implements: a `Source` subclass, registered with `export`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from .config import Config
from .schema import Schema

FULL = "full"
INCREMENTAL = "incremental"


@dataclass
class Features:
    """What a plugin can do (Elastic's connector `features`)."""

    incremental_sync: bool = False
    basic_rules: bool = True
    advanced_rules: bool = False
    document_level_security: bool = False


@dataclass
class Metadata:
    """The plugin's identity: Elastic's `service_type`, a display name, a semver version."""

    service_type: str
    name: str
    version: str
    features: Features = field(default_factory=Features)


@dataclass
class SyncRequest:
    """What the host asks of one sync."""

    kind: str  # FULL or INCREMENTAL
    cursor: Any  # the previous successful incremental sync's cursor (parsed JSON), or None
    advanced_rules: Any  # the active advanced rules (parsed JSON), or None
    batch_size: int  # documents per batch the host would like (a hint, >= 1)


class Source:
    """A source connector. Override `metadata`, `configuration`, `ping` and
    `start_sync`; `validate_config` applies the schema's rules by default.

    `start_sync` returns an iterator of `Batch` (a generator is the natural
    way); raise `Error` for a failure the user should read. To resume
    incremental syncs, return an object that is an iterator of batches and has
    a `cursor()` method (any JSON value).
    """

    def metadata(self) -> Metadata:
        raise NotImplementedError("a Source must define metadata()")

    def configuration(self) -> Schema:
        return Schema()

    def validate_config(self, config: Config) -> list:
        return self.configuration().validate(config)

    def ping(self, config: Config) -> None:
        raise NotImplementedError("a Source must define ping()")

    def validate_advanced_rules(self, config: Config, rules: Any) -> list:
        if rules in (None, [], {}):
            return []
        return [f"{self.metadata().name} does not support advanced rules"]

    def start_sync(self, config: Config, request: SyncRequest) -> Iterator:
        raise NotImplementedError("a Source must define start_sync()")


_registered: Optional[type] = None


def export(source: type) -> type:
    """Registers `source` (a `Source` subclass) as this component's source;
    call it once, at the bottom of the plugin's module. Returns the class, so it
    also works as a decorator."""
    global _registered
    if not (isinstance(source, type) and issubclass(source, Source)):
        raise TypeError(f"export() takes a Source subclass, not {source!r}")
    _registered = source
    return source


def registered() -> type:
    if _registered is None:
        raise RuntimeError("no source registered: call tributary_sdk.export(YourSource) in your module")
    return _registered

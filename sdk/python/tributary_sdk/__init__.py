"""Write Tributary source connectors in Python.

Subclass `Source`, register it with `export`, build a WebAssembly component
with `tributary-py build` (componentize-py underneath). The same shape as the
Rust SDK: metadata, a configuration schema (Elastic's Rich Configurable
Fields), validation, ping, and a sync that yields batches of documents.

    from tributary_sdk import BatchBuilder, Field, Metadata, Schema, Source, export

    class Hello(Source):
        def metadata(self):
            return Metadata("hello", "Hello", "0.1.0")

        def configuration(self):
            return Schema(Field.str("greeting", "Greeting").value("hello"))

        def ping(self, config):
            pass

        def start_sync(self, config, request):
            batch = BatchBuilder(["message"])
            batch.push("doc-1", [config.str("greeting", "hello")])
            yield batch.finish()

    export(Hello)

Capability clients (each imported only by plugins that use it, and granted
only by the operator): `tributary_sdk.filesystem`, `.http`, `.redis`,
`.postgresql`, `.mysql`.
"""

from .batch import ABSENT, DELETE, INDEX, UPDATE, Batch, BatchBuilder, Document, Json, Number
from .config import Config
from .errors import Error
from .schema import Field, FieldError, Schema
from .source import FULL, INCREMENTAL, Features, Metadata, Source, SyncRequest, export

__all__ = [
    "ABSENT",
    "DELETE",
    "FULL",
    "INCREMENTAL",
    "INDEX",
    "UPDATE",
    "Batch",
    "BatchBuilder",
    "Config",
    "Document",
    "Error",
    "Features",
    "Field",
    "FieldError",
    "Json",
    "Metadata",
    "Number",
    "Schema",
    "Source",
    "SyncRequest",
    "export",
]

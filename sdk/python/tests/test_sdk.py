"""The SDK's pure parts, natively (no component): schema and Elastic's
validation, configuration coercions, batches, the plugin registry and the
world file `tributary-py build` writes. Run: python3 -m unittest discover -s sdk/python/tests"""

import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tributary_sdk import ABSENT, BatchBuilder, Config, Field, FieldError, Metadata, Schema, Source, export  # noqa: E402
from tributary_sdk import build, source  # noqa: E402


def schema():
    return Schema(
        Field.str("host", "Host"),
        Field.int("port", "Port").validation("greater_than", 0).validation("less_than", 65536),
        Field.toggle("ssl_enabled", "Enable SSL").value(False),
        Field.str("ssl_ca", "SSL certificate").depends_on("ssl_enabled", True),
        Field.int("fetch_size", "Rows").optional().default_value(50).advanced(),
        Field.str("mode", "Mode").display("dropdown").option("A", "a").option("B", "b").value("a")
        .validation("included_in", ["a", "b"]),
    )


class SchemaTest(unittest.TestCase):
    def test_validation_follows_elastic(self):
        errors = schema().validate(Config({"host": "", "port": "70000", "ssl_enabled": False}))
        self.assertEqual(
            errors,
            [
                FieldError("host", "'Host' cannot be empty."),
                FieldError("port", "'Port' value '70000' should be less than 65536."),
            ],
        )
        errors = schema().validate(Config({"host": "h", "port": 1, "ssl_enabled": "true", "ssl_ca": "", "mode": "c"}))
        self.assertEqual([e.key for e in errors], ["ssl_ca", "mode"])
        errors = schema().validate(Config({"host": "h", "port": "x"}))
        self.assertEqual(errors, [FieldError("port", "'Port' must be an integer.")])

    def test_json_shape_has_every_attribute(self):
        j = schema().to_json()
        self.assertEqual(j["fetch_size"]["order"], 5)
        self.assertEqual(j["fetch_size"]["ui_restrictions"], ["advanced"])
        self.assertEqual(j["ssl_ca"]["depends_on"], [{"field": "ssl_enabled", "value": True}])
        self.assertEqual(j["mode"]["options"][1], {"label": "B", "value": "b"})
        self.assertIsNone(j["host"]["default_value"])
        with self.assertRaises(ValueError):
            Field.str("x", "X").display("slider")


class ConfigTest(unittest.TestCase):
    def test_coercions(self):
        c = Config({"tables": " album, artist ,, ", "port": "5432", "x": {"value": True}, "f": "false"})
        self.assertEqual(c.list("tables"), ["album", "artist"])
        self.assertEqual(c.int("port"), 5432)
        self.assertIs(c.bool("x"), True)
        self.assertIs(c.bool("f"), False)
        self.assertEqual(c.str("missing", "d"), "d")


class BatchTest(unittest.TestCase):
    def test_positional_and_per_document_fields(self):
        b = BatchBuilder(["title"])
        b.push("1", ["Hello"])
        b.document("2", {"title": "World", "pages": 3})
        batch = b.finish()
        self.assertEqual(batch.fields, ["title", "pages"])
        self.assertEqual(batch.documents[0].values, ["Hello", ABSENT])
        self.assertEqual(batch.to_json(), [{"_id": "1", "title": "Hello"}, {"_id": "2", "title": "World", "pages": 3}])


class RegistryTest(unittest.TestCase):
    def test_export_takes_a_source_subclass(self):
        class Mine(Source):
            def metadata(self):
                return Metadata("mine", "Mine", "0.1.0")

        self.assertIs(export(Mine), Mine)
        self.assertIs(source.registered(), Mine)
        with self.assertRaises(TypeError):
            export(object)
        self.assertEqual(Mine().validate_advanced_rules(Config({}), {}), [])
        self.assertEqual(Mine().validate_advanced_rules(Config({}), [{"q": 1}]), ["Mine does not support advanced rules"])


class CodecTest(unittest.TestCase):
    def test_a_row_batch_decodes(self):
        import struct

        from tributary_sdk import Json, Number, codec

        def text(tag, s):
            b = s.encode()
            return bytes([tag, len(b)]) + b

        row = (
            bytes([3]) + struct.pack("<i", -7)
            + text(8, "héllo")
            + text(7, "12.50")
            + text(11, '{"a":1}')
            + bytes([12]) + struct.pack("<i", 1)
            + bytes([16]) + struct.pack("<q", 1_500_000)
            + bytes([0])
            + bytes([21, 3, 1, 2, 2]) + bytes([3]) + struct.pack("<i", 1) + bytes([3]) + struct.pack("<i", 2)
        )
        data = b"TRC1" + struct.pack("<II", 8, 1) + row
        [[i, s, n, j, d, ts, null, arr]] = codec.decode(data)
        self.assertEqual((i, s, null, arr), (-7, "héllo", None, [1, 2]))
        self.assertIsInstance(n, Number)
        self.assertEqual(n.text, "12.50")
        self.assertIsInstance(j, Json)
        self.assertEqual((d, ts), ("2000-01-02", "2000-01-01T00:00:01.500000+00:00"))
        with self.assertRaises(codec.DecodeError):
            codec.decode(data[:-1])


class BuildTest(unittest.TestCase):
    def test_the_world_imports_exactly_the_capabilities_named(self):
        wit = Path(build.__file__).resolve().parent / "wit"
        with tempfile.TemporaryDirectory() as out:
            build._wit_dir(Path(out), wit, ["filesystem"])
            world = (Path(out) / "tributary-python.wit").read_text()
            self.assertIn("include source-plugin;", world)
            self.assertIn("import filesystem;", world)
            self.assertNotIn("import postgresql;", world)
            self.assertTrue((Path(out) / "connector.wit").is_file())


if __name__ == "__main__":
    unittest.main()

"""Sample data shared by several test modules."""

# The reference document's sample schema and message.
SAMPLE_SCHEMA = {
    "doc": "Sample schema to help you get started.",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "age", "type": "int"},
        {"name": "emails", "type": {"items": "string", "type": "array"}},
    ],
    "name": "sampleRecord",
    "namespace": "com.mycorp.mynamespace",
    "type": "record",
}
SAMPLE_VALUE = {"name": "John Doe", "age": 29, "emails": ["johndoe@example.com"]}

"""The shared layer of the Kafka connector for AWS Step Functions.

One module per job: ``properties`` (client properties), ``address`` (target addresses),
``serialization`` (JSON/Avro wire formats), ``secrets`` (``{{secrets.NAME}}``), ``errors``
(the error names Step Functions sees), ``redaction`` (secrets never leave the function),
``publisher`` (cached producers), ``records``, ``expressions`` and ``correlation`` (consumer side).
"""

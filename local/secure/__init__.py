"""A TLS and SASL front for the embedded broker, which speaks neither, for authentication tests.

The connector must prove that the clients it configures really negotiate ``SSL``,
``SASL_PLAINTEXT`` and ``SASL_SSL``; Tansu cannot check that, so a proxy in front of it does:

- :mod:`local.secure.broker`: the broker and its proxy started together, per security mode;
- :mod:`local.secure.proxy`: the asyncio proxy that terminates TLS and plays the broker's SASL part;
- :mod:`local.secure.sasl`: the server side of PLAIN and SCRAM-SHA-256/512;
- :mod:`local.secure.wire`: the few Kafka messages of the SASL phase, encoded by hand;
- :mod:`local.secure.pki`: the throwaway CA, certificates and keys.
"""

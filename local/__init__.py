"""Development runtime: embedded broker, AWS emulator, local event source mapping, demo.

Run ``python -m local --help``. Nothing in ``functions/`` or the layer knows it runs here:
the functions reach the emulator through ``AWS_ENDPOINT_URL`` exactly as they would reach AWS.
"""

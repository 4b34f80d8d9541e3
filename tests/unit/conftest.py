"""Fast tests: no broker and no emulator process (moto in-process at most)."""

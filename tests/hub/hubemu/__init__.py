"""Hugging Face Hub emulator for hfsync's tests (see tests/hub/README.md)."""

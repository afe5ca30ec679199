"""Sekisho's test suite."""

"""Append-only typed audit events, exported as CloudTrail-format records."""

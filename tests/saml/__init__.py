"""Unit tests of the pure SAML core."""

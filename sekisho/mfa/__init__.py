"""Multi-factor authentication: the MFA mode, the method registry and per-method cores (TOTP)."""

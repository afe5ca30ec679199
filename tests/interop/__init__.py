"""Round trips against independent SAML implementations."""

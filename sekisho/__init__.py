"""Sekisho: a self-hosted SAML 2.0 identity provider with MFA and source-IP restriction."""

__version__ = "0.1.0"

"""The saml bounded context: SAML 2.0 identity provider protocol, apps and SSO views."""

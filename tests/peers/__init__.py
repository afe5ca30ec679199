"""Tests against real SAML SPs from Debian (Shibboleth SP, SimpleSAMLphp)."""

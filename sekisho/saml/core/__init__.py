"""Pure SAML 2.0 protocol core of Sekisho: no Django, no ORM, no HTTP objects.

Modules: ``xml`` (hardened parsing, namespaces, time values), ``keys`` (signing keys and
certificates), ``dsig`` (XML-DSig sign/verify and the HTTP-Redirect detached signature),
``metadata`` (IdP metadata out, SP metadata in), ``authnrequest`` (decode, parse, ACS
choice), ``attributes`` (Identity Center style mapping expressions), ``response``
(Response/Assertion building), ``persistent`` (NameIDs), ``presets`` (AWS apps) and
``inspector`` (a strict, explaining Response validator).
"""

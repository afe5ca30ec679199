"""`sekisho demo`: the seed's whole system on one machine, set up as a user would set it up.

The demo is a client of the product: the IdP side through the same services as the CLI,
the AWS side through boto3 against the emulator's /aws endpoint.
"""

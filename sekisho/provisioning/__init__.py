"""Provisioning the AWS side of a Sekisho application, against any AWS endpoint.

`sekisho aws setup-connect | set-allowed-ips | sync-users | doctor` and the demo use the
same services (``services``): they read the application, its metadata and assignments
through saml's services, what exists in AWS through boto3 (``aws``), and print a plan
(``plans``, pure) before changing anything. boto3's standard credential chain decides
which account; ``--endpoint-url`` or ``AWS_ENDPOINT_URL`` points it at Sekisho's
emulator. Nothing here imports the emulator.
"""

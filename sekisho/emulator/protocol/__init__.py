"""AWS wire protocols, server side: query (IAM, STS), rest-json (Connect), SigV4, routing.

Each module is pure (no Django, no ORM, no HTTP server): it reads an ``AwsHttpRequest``
and writes an ``AwsHttpResponse``, shaped by botocore's own service models.
"""

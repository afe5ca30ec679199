"""The local stand-in of the AWS side (IAM, STS, Amazon Connect) and its wire protocols."""

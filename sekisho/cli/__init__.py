"""The `sekisho` command line."""

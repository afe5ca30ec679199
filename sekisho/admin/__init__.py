"""Administration: roles, API tokens and the services the console, the API and the CLI share."""

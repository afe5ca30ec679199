"""The directory: users, groups, password policy, sign-in throttling and client addresses."""

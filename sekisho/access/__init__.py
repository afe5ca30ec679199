"""The IdP's own access decisions: stored policies, attachments, SignIn and LaunchApplication."""

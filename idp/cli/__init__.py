"""The `idp` command: serve and the operator's commands."""

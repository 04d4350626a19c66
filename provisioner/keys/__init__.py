"""Keys in use: which token a key is, what a relay answer says of it, and what
`revoke` does to a leaked key's token (pure; `test`, `scan`, `revoke`)."""

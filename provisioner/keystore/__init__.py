"""Secrets in the shell: the management credential, the server URL, key sinks, the OS keyring."""

"""Secrets: the masked Secret type, credentials, key sinks."""

from provisioner.secrets.secret import Secret, mask

__all__ = ["Secret", "mask"]

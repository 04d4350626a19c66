"""provisioner: tokens as code for new-api-family LLM gateways."""

__version__ = "0.2.0"

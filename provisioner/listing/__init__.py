"""What `provisioner list` finds: one row per token and the hygiene findings (pure)."""

"""The token spec: YAML loading with locations, schema, validation, the desired model."""

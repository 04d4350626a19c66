"""The new-api server: client, dialects, paging, retries, the observed model."""

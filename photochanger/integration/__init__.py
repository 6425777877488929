"""The integration API for partners: keys, async jobs, ZIP batches (docs/integration-api.md)."""

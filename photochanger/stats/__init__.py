"""Statistics, metrics and health checks."""

"""Provider drivers (one module each) and their registry."""

"""Public links: result downloads, provider media, slot galleries."""

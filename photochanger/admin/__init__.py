"""Admin: JSON API under /api (login, slots, settings, media) and the Jinja pages under /admin."""

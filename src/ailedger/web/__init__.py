"""Server-rendered dashboard (Jinja2, no JavaScript build step)."""

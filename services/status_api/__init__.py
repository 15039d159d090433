"""status_api."""

"""The admin HTTP API (aiohttp). This first cut reports status and registrations."""

from .api import make_admin_app

__all__ = ["make_admin_app"]

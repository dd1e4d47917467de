"""The admin HTTP API (aiohttp): endpoints behind one gate (tokens, roles, audit), the OpenAPI
document generated from their types, the live event stream and the supervisor pages."""

from .api import make_admin_app
from .audit import AuditLog
from .context import AdminContext
from .tokens import Tokens

__all__ = ["AdminContext", "AuditLog", "Tokens", "make_admin_app"]

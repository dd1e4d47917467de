"""What the PBX keeps in its database for itself (plugins keep their own tables through the SDK).

- `StateStore`: registrations and agent logins, so a restart (or a kill -9) forgets neither.
"""

from .state import StateStore

__all__ = ["StateStore"]

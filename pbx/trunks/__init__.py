"""SIP trunks: providers we register to or recognise by address, calls in by DID, calls out.

Exports:
- config: `TrunkConfig`, `TrunkRegistration`, `TrunkAuth`, `OutboundRouteConfig`, `reference_errors`
- `RegistrationClient` (sans-IO REGISTER client, RFC 3261 10.2) and its `SendRegister` action
- `TrunkIdentifier` (which trunk a request comes from, the DID it calls), `number_forms`
- `OutboundRoutes`, `Placement`, `Channels`; `Permissions`
- `TrunkService` (the run-time glue on the SIP endpoint), `OutboundController`, `DialOut`
"""

from .config import OutboundRouteConfig, TrunkAuth, TrunkConfig, TrunkRegistration, reference_errors
from .dialout import DialOut, OutboundController
from .identify import TrunkIdentifier, number_forms
from .outbound import Channels, OutboundRoutes, Placement
from .permissions import Permissions
from .registration import RegistrationClient, SendRegister
from .service import Refusal, TrunkService, TrunkTarget

__all__ = [
    "Channels", "DialOut", "OutboundController", "OutboundRouteConfig", "OutboundRoutes", "Permissions",
    "Placement", "Refusal", "RegistrationClient", "SendRegister", "TrunkAuth", "TrunkConfig", "TrunkIdentifier",
    "TrunkRegistration", "TrunkService", "TrunkTarget", "number_forms", "reference_errors",
]  # fmt: skip

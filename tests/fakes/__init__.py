"""Loopback fakes of the external APIs the ingestion code talks to (integrations.md §§1-5).

Each fake is a real HTTP server on 127.0.0.1 (ephemeral port) speaking the provider's wire format, so the
application's real client code (stripe, hubspot-api-client, requests) runs unchanged against it:

    from tests.fakes import FakeHubSpot, FakeStripe, FakeMetaGraph, FakeCallGear

    with FakeHubSpot(token="pat-test") as hs:       # hs.url -> "http://127.0.0.1:<port>"
        ...
        assert hs.requests[0].headers["Authorization"] == "Bearer pat-test"

All of them share FakeServer (server.py): `requests` (recorded), `fail_next(...)` (scripted faults), `errors`
(tracebacks if the fake itself crashed).
"""

from .callgear import FakeCallGear
from .hubspot import FakeHubSpot
from .meta import FakeMetaGraph
from .server import FakeServer, RecordedRequest, Response
from .stripe import FakeStripe, make_event, signed_event

__all__ = ["FakeServer", "RecordedRequest", "Response", "FakeHubSpot", "FakeStripe", "make_event", "signed_event",
           "FakeMetaGraph", "FakeCallGear"]

"""Resource provider registrations: a subscription uses a provider's namespace only once it is registered.

Microsoft Learn, "Resolve errors for resource provider registration": a request to a namespace the
subscription has not registered fails with `MissingSubscriptionRegistration` ("The subscription is not
registered to use namespace {namespace}"); `az provider register` (Providers_Register) fixes it, and the
provider reads `Registering` for a while before `Registered` (Providers_Get, `registrationState`).
Microsoft.Resources and Microsoft.Features are ARM's own and always registered.
"""

from __future__ import annotations

from wavelift.emulator.errors import ArmError
from wavelift.emulator.routing import ACTION, COLLECTION, ITEM, RESOURCES, ArmPath, Call, Reply, Router
from wavelift.emulator.world import World

PROVIDERS_API = {"2025-04-01", "2024-11-01", "2024-03-01", "2022-09-01", "2021-04-01"}
PROVIDERS = f"{RESOURCES}/providers"  # how `routing.parse` files /subscriptions/{s}/providers/{namespace}
ALWAYS_REGISTERED = {RESOURCES.lower(), "microsoft.features"}


class Registrations:
    """Each namespace's registration: registered from the start unless the configuration says otherwise."""

    def __init__(self, world: World, router: Router) -> None:
        self.world = world
        self.router = router
        self.requested: dict[str, float] = {}  # an unregistered namespace: when registration was asked for

    def state(self, namespace: str) -> str:
        key = namespace.lower()
        if key in ALWAYS_REGISTERED or key not in {n.lower() for n in self.world.config.unregistered_providers}:
            return "Registered"
        asked = self.requested.get(key)
        if asked is None:
            return "NotRegistered"
        done = self.world.clock.now() >= asked + self.world.config.capacity.arm_seconds
        return "Registered" if done else "Registering"

    def require(self, path: ArmPath) -> None:
        """Refuse a request to a namespace the subscription has not registered, as ARM does."""
        if self.state(path.namespace) != "Registered":
            raise ArmError(
                409,
                "MissingSubscriptionRegistration",
                f"The subscription is not registered to use namespace '{path.namespace}'. See "
                "https://aka.ms/rps-not-found for how to register subscriptions.",
            )

    def _namespace(self, call: Call) -> str:
        (asked,) = call.path.names
        served = self.router.served()
        namespace = next((n for n in served if n.lower() == asked.lower()), None)
        if namespace is None:
            raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{asked}' is invalid.")
        return namespace

    def _render(self, call: Call, namespace: str) -> dict:
        """A provider as Providers_Get answers: its state, and the types and api-versions it serves here."""
        return {
            "id": f"/subscriptions/{call.path.subscription}/providers/{namespace}",
            "namespace": namespace,
            "registrationState": self.state(namespace),
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": [
                {"resourceType": kind, "locations": [self.world.config.region], "apiVersions": sorted(versions)}
                for kind, versions in sorted(self.router.served()[namespace].items())
            ],
        }

    def get(self, call: Call) -> Reply:
        return Reply(200, self._render(call, self._namespace(call)))

    def list(self, call: Call) -> Reply:
        """Every namespace the emulator serves, with its registration (Providers_List, `az provider list`)."""
        return Reply(200, {"value": [self._render(call, namespace) for namespace in sorted(self.router.served())]})

    def register(self, call: Call) -> Reply:
        namespace = self._namespace(call)
        if self.state(namespace) == "NotRegistered":
            self.requested[namespace.lower()] = self.world.clock.now()
        return Reply(200, self._render(call, namespace))


def register(router: Router, world: World) -> Registrations:
    registrations = Registrations(world, router)
    router.add("GET", ITEM, PROVIDERS, registrations.get, PROVIDERS_API)
    router.add("GET", COLLECTION, PROVIDERS, registrations.list, PROVIDERS_API)
    router.add("POST", ACTION, PROVIDERS, registrations.register, PROVIDERS_API, "register")
    return registrations

"""Microsoft.Features: subscription preview features, of which wavelift needs one.

Encryption at host works only once the subscription has registered `Microsoft.Compute/EncryptionAtHost`
(Microsoft Learn, "Use the Azure CLI to enable end-to-end encryption using encryption at host":
`az feature register --namespace Microsoft.Compute --name EncryptionAtHost`); a new subscription has
not. Registration takes a while (`Registering`) before it holds (`Registered`).
"""

from __future__ import annotations

from wavelift.emulator.providers.common import fail_unless
from wavelift.emulator.routing import ACTION, ITEM, Call, Reply, Router
from wavelift.emulator.world import World

FEATURES_API = {"2021-07-01", "2015-12-01"}
TYPE = "Microsoft.Features/providers/features"
KNOWN = {"microsoft.compute/encryptionathost": "Microsoft.Compute/EncryptionAtHost"}


class Features:
    """Each known feature's registration: when it was asked for (None: never)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.requested: dict[str, float] = {}

    def state(self, feature: str) -> str:
        """`NotRegistered`, `Registering` (for an ARM operation's time after the request) or `Registered`."""
        asked = self.requested.get(feature.lower())
        if asked is None:
            return "NotRegistered"
        return (
            "Registered" if self.world.clock.now() >= asked + self.world.config.capacity.arm_seconds else "Registering"
        )

    def _feature(self, call: Call) -> str:
        namespace, name = call.path.names
        key = f"{namespace}/{name}".lower()
        fail_unless(
            key in KNOWN, 404, "FeatureNotFound", f"The feature '{name}' could not be found in namespace '{namespace}'."
        )
        return key

    def _render(self, call: Call, key: str) -> dict:
        return {
            "id": call.path.item_id,
            "name": KNOWN[key],
            "type": TYPE,
            "properties": {"state": self.state(key)},
        }

    def get(self, call: Call) -> Reply:
        return Reply(200, self._render(call, self._feature(call)))

    def register(self, call: Call) -> Reply:
        key = self._feature(call)
        self.requested.setdefault(key, self.world.clock.now())
        return Reply(200, self._render(call, key))


def register(router: Router, world: World) -> Features:
    features = Features(world)
    router.add("GET", ITEM, TYPE, features.get, FEATURES_API)
    router.add("POST", ACTION, TYPE, features.register, FEATURES_API, "register")
    return features

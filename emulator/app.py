"""The emulator's ASGI application: ARM dispatch, the on-prem services, sign-in and inspection.

Every ARM request passes the same gates as in Azure, in the same order: authentication, throttling
(429 + Retry-After), then the resource provider; injected faults sit just before the provider.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wavelift.emulator.bootstrap import Emulator
from wavelift.emulator.errors import ArmError
from wavelift.emulator.faults import FaultRule
from wavelift.emulator.identity import KEY_VAULT_AUDIENCES, issue_token, openid_configuration
from wavelift.emulator.inspection import export_state
from wavelift.emulator.routing import COLLECTION, Call, Reply, parse
from wavelift.emulator.throttle import ThrottleLimits


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def _error(exc: ArmError) -> Response:
    return _json(exc.status, exc.body(), exc.headers)


def _model(model: type[BaseModel], raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ArmError(400, "InvalidRequestContent", f"{where}: {first['msg']}") from None


class ArmDispatcher:
    """Serves one ARM request against the emulator's world."""

    def __init__(self, emulator: Emulator) -> None:
        self.emu = emulator
        self.world = emulator.world

    async def handle(self, request: Request) -> Response:
        correlation = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": request.headers.get("x-ms-client-request-id", str(uuid.uuid4())),
        }
        try:
            reply = await self._serve(request)
        except ArmError as exc:
            exc.headers.update(correlation)
            return _error(exc)
        return _json(reply.status, reply.body, {**reply.headers, **correlation})

    async def _serve(self, request: Request) -> Reply:
        path: str = request.scope["path"]
        method = request.method.upper()
        self.emu.tokens.check(request.headers.get("authorization", ""))
        retry_after, rate_headers = self.world.throttle.admit(method)
        if retry_after is not None:
            raise ArmError(  # code and message as Learn's "Troubleshoot common Azure deployment errors" gives them
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{'read' if method in ('GET', 'HEAD') else 'write'}' requests for subscription "
                f"'{self.emu.config.subscription_id}' exceeded the limit. Please try again after '{retry_after}' "
                "seconds.",
                {"Retry-After": str(retry_after), **rate_headers},
            )
        fault = self.world.faults.match(method, path)
        if fault is not None and fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault is not None and fault.status is not None:
            raise ArmError(fault.status, fault.code, fault.message, dict(fault.headers))
        self.world.tick()
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        base_url = f"{request.url.scheme}://{request.url.netloc}"
        segments = [s for s in path.split("/") if s]
        op = self.world.operations.find(segments[-2], segments[-1]) if method == "GET" and len(segments) >= 2 else None
        if op is not None:
            self.world.requests[f"GET {segments[-2]}"] += 1
            status, body, headers = self.world.operations.answer(segments[-2], op, base_url)
            return Reply(status, body, {**headers, **rate_headers})
        arm_path = parse(path)
        if arm_path is None:
            raise ArmError(
                404, "InvalidResourceNamespace", f"The path '{path}' is not an Azure Resource Manager resource path."
            )
        route = self.emu.router.resolve(method, arm_path)
        if route is None:
            raise ArmError(
                404 if method == "GET" else 405,
                "InvalidResourceType" if method == "GET" else "MethodNotAllowed",
                f"The emulator does not support {method} on '{arm_path.type_path}"
                + (f"/{arm_path.tail}'" if arm_path.tail else "'")
                + ".",
            )
        handler, versions, kind = route
        label = f"{'LIST' if kind == COLLECTION else method} {arm_path.type_path}" + (
            f"/{arm_path.tail}" if arm_path.tail else ""
        )
        if kind == COLLECTION and "$skiptoken" in query:  # a list call is counted once, its further pages apart
            label += " (next page)"
        api_version = query.get("api-version")
        if not api_version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if api_version not in versions:
            raise ArmError(
                400,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for location '{self.emu.config.region}' and API version "
                f"'{api_version}' for type '{arm_path.type_path}'. The supported api-versions are "
                f"'{', '.join(sorted(versions))}'.",
            )
        self.emu.registrations.require(arm_path)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: {exc.msg} at position {exc.pos}.",
            ) from None
        self.world.requests[label] += 1
        call = Call(
            method,
            arm_path,
            query,
            body,
            base_url,
            dict(request.headers),
            raw_path=path,
            injected_error=fault.lro_error.model_dump() if fault is not None and fault.lro_error else None,
            injected_outcome=fault.lro_outcome if fault is not None else None,
        )
        reply = handler(call)
        reply.headers.update(rate_headers)
        return reply


class EmulatedDate:
    """Stamps every response with a `Date` header in emulated time, as Azure's answers carry its own clock.

    Clients that measure ages against the service's clock (wavelift's clean-up grace period) then see
    the emulated hours pass, not the compressed wall-clock seconds.
    """

    def __init__(self, app: ASGIApp, emulator: Emulator) -> None:
        self.app = app
        self.clock = emulator.world.clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"date", formatdate(self.clock.now(), usegmt=True).encode()),
                ]
            await send(message)

        await self.app(scope, receive, stamped if scope["type"] == "http" else send)


def create_app(emulator: Emulator) -> ASGIApp:
    world = emulator.world
    dispatcher = ArmDispatcher(emulator)

    async def inspection(request: Request) -> Response:
        try:
            return await _inspection(request)
        except ArmError as exc:
            return _error(exc)

    async def _inspection(request: Request) -> Response:
        what = request.path_params["what"]
        method = request.method
        world.tick()
        if what == "stats" and method == "GET":
            return _json(200, world.stats())
        if what == "stats" and method == "DELETE":
            world.requests.clear()
            world.throttle.throttled = 0
            world.seeding_shown_after.clear()
            return _json(204, None)
        if what == "history" and method == "GET":
            return _json(
                200,
                {
                    m.display_name: world.history.get(key, [])
                    for key, m in world.machines.items()
                    if key in world.history
                },
            )
        if what == "state" and method == "GET":
            return _json(200, export_state(emulator))
        if what == "faults" and method == "POST":
            world.faults.add(_model(FaultRule, await request.body()))
            return _json(201, {"faults": world.faults.describe()})
        if what == "faults" and method == "GET":
            return _json(200, {"faults": world.faults.describe()})
        if what == "faults" and method == "DELETE":
            world.faults.clear()
            return _json(204, None)
        if what == "throttle" and method == "PUT":
            world.throttle.configure(_model(ThrottleLimits, await request.body()))
            return _json(200, world.throttle.limits.model_dump())
        if what == "clock" and method == "POST":
            seconds = json.loads(await request.body() or b"{}").get("skip_seconds")
            if not isinstance(seconds, (int, float)) or seconds < 0:
                raise ArmError(400, "InvalidRequestContent", "skip_seconds: a non-negative number is required.")
            world.clock.skip(seconds)
            world.tick()
            return _json(200, world.stats())
        raise ArmError(404, "NotFound", f"No inspection endpoint {method} /_emulator/{what}.")

    async def backup_jobs(request: Request) -> Response:
        return _json(200, {"jobs": emulator.onprem.catalog()})

    async def backup_server(request: Request) -> Response:
        server = request.path_params["server"]
        if not any(m.display_name == server for m in world.machines.values()):
            return _error(ArmError(404, "ServerNotFound", f"Server '{server}' is not known to the backup catalog."))
        return _json(200, {"server": server, "jobs": emulator.onprem.jobs_of(server)})

    async def backup_member(request: Request) -> Response:
        job, server = request.path_params["job"], request.path_params["server"]
        try:
            removed = emulator.onprem.remove_from_job(job, server)
        except ArmError as exc:
            return _error(exc)
        if removed:
            machine = next(m for m in world.machines.values() if m.display_name == server)
            world.record(machine.name, "removed_from_backup_job", job=job)
        return _json(204 if removed else 404, None)

    async def machines(request: Request) -> Response:
        return _json(
            200,
            {
                "machines": [
                    {"name": m.name, "display_name": m.display_name, "power_state": m.power_state, "ip": m.ip}
                    for m in world.machines.values()
                ]
            },
        )

    def _server(request: Request) -> Any:
        """The source server on-prem systems call by this name (vCenter knows VMs by their names)."""
        name = request.path_params["name"]
        return next((m for m in world.machines.values() if m.display_name == name), None)

    async def server(request: Request) -> Response:
        machine = _server(request)
        if machine is None:
            return _error(ArmError(404, "NotFound", "No such server."))
        return _json(
            200, {"name": machine.name, "display_name": machine.display_name, "power_state": machine.power_state}
        )

    async def power(request: Request) -> Response:
        machine, action = _server(request), request.path_params["action"]
        if machine is None or action not in ("powerOn", "powerOff"):
            return _error(ArmError(404, "NotFound", "Unknown server or action (powerOn, powerOff)."))
        machine.power_state = "ON" if action == "powerOn" else "OFF"
        world.record(machine.name, "source_powered_on" if action == "powerOn" else "source_powered_off")
        return _json(
            200, {"name": machine.name, "display_name": machine.display_name, "power_state": machine.power_state}
        )

    async def openid(request: Request) -> Response:
        return _json(
            200,
            openid_configuration(
                emulator.config, f"{request.url.scheme}://{request.url.netloc}", request.path_params["tenant"]
            ),
        )

    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        status, body = issue_token(emulator.config, emulator.tokens, request.path_params["tenant"], form)
        return _json(status, body)

    async def key_vault_secret(request: Request) -> Response:
        """A vault's secrets, behind Key Vault's authentication challenge: a request without a token is told
        which tenant and resource to get one for (the client then retries with it)."""
        base = f"{request.url.scheme}://{request.url.netloc}"
        if not request.headers.get("authorization"):
            tenant, resource = emulator.config.tenant_id, KEY_VAULT_AUDIENCES[0]
            challenge = f'Bearer authorization="{base}/{tenant}", resource="{resource}"'
            missing = {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}
            return _json(401, {"error": missing}, {"WWW-Authenticate": challenge})
        try:
            emulator.tokens.check(request.headers["authorization"], KEY_VAULT_AUDIENCES)
            body = json.loads(await request.body() or b"null")
        except ArmError as exc:
            return _error(exc)
        except json.JSONDecodeError:
            return _json(400, {"error": {"code": "BadParameter", "message": "The request body is not JSON."}})
        world.tick()
        world.requests[f"{request.method} Key Vault secret"] += 1
        vault = emulator.key_vaults.vault_at(base)
        if vault is None:
            return _json(404, {"error": {"code": "NotFound", "message": f"No key vault is served at {base}."}})
        params = request.path_params
        status, answer = emulator.key_vaults.serve_secret(
            request.method, vault, params["name"], params.get("version"), body
        )
        return _json(status, answer)

    routes = [
        Route("/_emulator/{what}", inspection, methods=["GET", "POST", "PUT", "DELETE"]),
        Route("/_onprem/backup/jobs", backup_jobs, methods=["GET"]),
        Route("/_onprem/backup/servers/{server}", backup_server, methods=["GET"]),
        Route("/_onprem/backup/jobs/{job}/servers/{server}", backup_member, methods=["DELETE"]),
        Route("/_onprem/machines", machines, methods=["GET"]),
        Route("/_onprem/machines/{name}", server, methods=["GET"]),
        Route("/_onprem/machines/{name}/{action}", power, methods=["POST"]),
        Route("/secrets/{name}", key_vault_secret, methods=["GET", "PUT"]),
        Route("/secrets/{name}/", key_vault_secret, methods=["GET"]),  # the newest version (the SDK's empty one)
        Route("/secrets/{name}/{version}", key_vault_secret, methods=["GET"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/{path:path}", dispatcher.handle, methods=["GET", "PUT", "PATCH", "POST", "DELETE", "HEAD"]),
    ]
    return EmulatedDate(Starlette(routes=routes), emulator)

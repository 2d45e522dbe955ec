"""ARM's error shape: every refusal is `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations


class ArmError(Exception):
    """An error the emulator answers with, exactly as ARM would shape it."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None, target: str | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.target = target  # the property at fault, when ARM names one

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        return {"error": error | {"target": self.target}} if self.target else {"error": error}


def not_found(resource_id: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The Resource '{resource_id}' was not found.")


def bad_request(code: str, message: str) -> ArmError:
    return ArmError(400, code, message)


def conflict(code: str, message: str) -> ArmError:
    return ArmError(409, code, message)

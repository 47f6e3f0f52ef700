"""OpenRosa 1.0 endpoints of intake (ODK Collect, the browser form) and the device credentials
supervisors issue for them.

    GET  /formList                          the forms (one: retour_registration)
    GET  /forms/retour_registration.xml     the XForm
    GET  /forms/retour_registration/manifest  its media files (none)
    HEAD /submission                        the pre-flight: 204 and the largest body accepted
    POST /submission                        multipart, the instance as xml_submission_file

Every answer carries ``X-OpenRosa-Version: 1.0``; a refusal is an OpenRosa response whose
message ODK Collect shows to the registrar, naming the form's field and the rule, never a
submitted value. A submission is registered by the same desk as POST /returnees.
"""

import base64
import binascii
import hashlib
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any
from xml.etree.ElementTree import Element, SubElement, tostring

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from retour_intake.adapters.pg_devices import PgDevices
from retour_intake.domain.commands import InvalidField, RegisterReturnee
from retour_intake.domain.registration import DuplicateSuspected, OverrideRefused
from retour_intake.domain.xform import (
    FORM_ID,
    Submission,
    UnreadableSubmission,
    form_path,
    form_problems,
    read_submission,
)
from retour_intake.entrypoints.response_models.devices import (
    REVOKED_DEVICE,
    OpenRosaDevice,
    OpenRosaDeviceCredentials,
    OpenRosaDevices,
)
from retour_intake.forms import registration_xform
from retour_intake.openrosa import (
    IssueDevice,
    OutsideYourCentres,
    authenticate_device,
    issue_device,
    reissue_password,
)
from retour_intake.registering import OutsideYourCentres as OutsideYourCentresToRegister
from retour_intake.registering import RegistrationDesk
from retour_kit.auth import (
    IdentityProviderUnavailableError,
    InvalidTokenError,
    Principal,
    Role,
    require_roles,
    token_verifier,
)
from retour_kit.http_errors import ApiError, outside_centres
from retour_kit.http_limits import BodyRule
from retour_kit.idempotency import (
    REPLAYED_HEADER,
    IdempotencyKeyReused,
    RequiredIdempotencyKey,
    StoredResponse,
    key_reused,
    request_fingerprint,
    respond_once,
    scoped_key,
)
from retour_kit.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

VERSION_HEADER = "X-OpenRosa-Version"
ACCEPT_LENGTH_HEADER = "X-OpenRosa-Accept-Content-Length"
REALM = "retour"
SUBMISSION_PART = "xml_submission_file"
XML = "text/xml; charset=utf-8"
RESPONSE_NS = "http://openrosa.org/http/response"
FORM_LIST_NS = "http://openrosa.org/xforms/xformsList"
MANIFEST_NS = "http://openrosa.org/xforms/xformsManifest"
DEVICES_PATH = "/openrosa/devices"
SUBMIT_PATH = "/submission"

# Supervisors register too, as on POST /returnees.
_FORM_FILLERS = frozenset({Role.REGISTRAR, Role.SUPERVISOR})


class OpenRosaRefusal(Exception):
    """Answered as an OpenRosa response with ``status`` and ``message``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class OpenRosaRoute(APIRoute):
    """Routes whose refusals are OpenRosa XML, not the JSON error bodies of the rest of the
    API: OpenRosa clients show the message of the response they understand."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except OpenRosaRefusal as refusal:
                response = openrosa_message(
                    refusal.status, refusal.message, nature="error", headers=refusal.headers
                )
            except HTTPException as refused:
                # Starlette's (a malformed multipart body) or the kit's (a body over the limit
                # while it is read): texts of their own, never the request's content.
                response = openrosa_message(
                    refused.status_code,
                    str(refused.detail),
                    nature="error",
                    headers=dict(refused.headers or {}),
                )
            response.headers[VERSION_HEADER] = "1.0"
            return response

        return handle


def openrosa_message(
    status: int, text: str, *, nature: str, headers: dict[str, str] | None = None
) -> Response:
    root = Element("OpenRosaResponse", xmlns=RESPONSE_NS)
    SubElement(root, "message", nature=nature).text = text
    return _xml(root, status, headers)


def openrosa_routes(
    devices: UnitOfWork[PgDevices], desk: RegistrationDesk, *, max_submission_bytes: int
) -> APIRouter:
    router = APIRouter()
    router.include_router(_openrosa_api(devices, desk, max_submission_bytes))
    router.include_router(_device_routes(devices))
    return router


def _openrosa_api(
    devices: UnitOfWork[PgDevices], desk: RegistrationDesk, max_submission_bytes: int
) -> APIRouter:
    # Left out of the OpenAPI document, which describes the JSON API: this is OpenRosa's XML
    # protocol (services/intake/forms/README.md), whose POST carries its idempotency key
    # inside the submission (meta/instanceID), never as an Idempotency-Key header.
    router = APIRouter(tags=["openrosa"], route_class=OpenRosaRoute, include_in_schema=False)

    async def form_filler(request: Request) -> Principal:
        principal = await _caller(request, devices)
        if principal.roles.isdisjoint(_FORM_FILLERS):
            raise OpenRosaRefusal(403, "the registrar or supervisor role is required")
        return principal

    FormFiller = Annotated[Principal, Depends(form_filler)]  # noqa: N806 (a type alias)

    @router.get("/formList", name="openrosa_form_list")
    async def form_list(request: Request, _: FormFiller) -> Response:
        """The OpenRosa form list: the registration form, its hash and where to get it."""
        xform = registration_xform()
        root = Element("xforms", xmlns=FORM_LIST_NS)
        entry = SubElement(root, "xform")
        SubElement(entry, "formID").text = FORM_ID
        SubElement(entry, "name").text = _form_title(xform)
        SubElement(entry, "version").text = _form_version(xform)
        SubElement(entry, "hash").text = f"md5:{hashlib.md5(xform).hexdigest()}"  # noqa: S324 (OpenRosa's own change marker, not security)
        SubElement(entry, "descriptionText").text = ""
        SubElement(entry, "downloadUrl").text = str(request.url_for("openrosa_form"))
        SubElement(entry, "manifestUrl").text = str(request.url_for("openrosa_manifest"))
        return _xml(root, 200)

    @router.get(f"/forms/{FORM_ID}.xml", name="openrosa_form")
    async def form(_: FormFiller) -> Response:
        """The registration XForm, as generated from the XLSForm (services/intake/forms)."""
        return Response(registration_xform(), media_type=XML)

    @router.get(f"/forms/{FORM_ID}/manifest", name="openrosa_manifest")
    async def manifest(_: FormFiller) -> Response:
        """The form's media files: none."""
        return _xml(Element("manifest", xmlns=MANIFEST_NS), 200)

    @router.head("/submission", status_code=204)
    async def preflight(_: FormFiller) -> Response:
        """OpenRosa's pre-flight: authenticated, and how large a submission may be."""
        return Response(status_code=204, headers={ACCEPT_LENGTH_HEADER: str(max_submission_bytes)})

    @router.post(SUBMIT_PATH, status_code=201)
    async def submit(request: Request, principal: FormFiller) -> Response:
        """A filled registration form (multipart/form-data, the instance as
        ``xml_submission_file``; other parts are ignored). Its ``meta/instanceID`` is the
        Idempotency-Key: a resend gets the first answer and never registers twice."""
        submission = read_submission_or_refuse(await _instance_xml(request))
        try:
            command = RegisterReturnee.model_validate(submission.answers)
        except ValidationError as invalid:
            raise _invalid(form_problems(invalid.errors(include_input=False))) from None
        try:
            result = await desk.register(
                command,
                principal,
                idempotency_key=submission.instance_id,
                traceparent=request.headers.get("traceparent"),
            )
        except OutsideYourCentresToRegister:
            raise OpenRosaRefusal(
                403, "reception_centre: your credentials do not give you this reception centre"
            ) from None
        except InvalidField as invalid:
            raise _invalid([(form_path(invalid.field.split(".")), invalid.message)]) from None
        except DuplicateSuspected as suspected:
            raise OpenRosaRefusal(
                409,
                f"not registered: this person matches {len(suspected.matches)} earlier"
                " registration(s). A supervisor must review them in retour before this person"
                " is registered.",
            ) from None
        except OverrideRefused:  # the form has no override: only a crafted instance gets here
            raise _invalid([("confirm_not_duplicate", "not a question of this form")]) from None
        except IdempotencyKeyReused:
            raise OpenRosaRefusal(
                409, "meta/instanceID: this form was sent before with other answers"
            ) from None
        return _submission_answer(result.status, result.body, replayed=result.replayed)

    return router


def read_submission_or_refuse(xml: bytes) -> Submission:
    try:
        return read_submission(xml)
    except UnreadableSubmission as unreadable:
        raise OpenRosaRefusal(400, f"{unreadable.field}: {unreadable.message}") from None


def _submission_answer(status: int, body: Any, *, replayed: bool) -> Response:
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    if status != 201:
        # Received before, and the person's data was erased since: the phone must stop
        # resending it, and nothing of the person is shown.
        text = "this form was received before; the person's data has since been erased"
        return openrosa_message(201, text, nature="submit_success", headers=headers)
    returnee = body["returnee_id"]
    text = (
        f"received before: returnee {returnee}" if replayed else f"registered: returnee {returnee}"
    )
    if body.get("possible_duplicate_of"):
        text += " (flagged as a possible duplicate; a supervisor will review it)"
    headers["Location"] = f"/returnees/{returnee}"
    return openrosa_message(201, text, nature="submit_success", headers=headers)


def submission_body_rule() -> dict[tuple[str, str], BodyRule]:
    """The kit's guards let a submission through whatever its media type: the route refuses
    what is not multipart/form-data with an OpenRosa response, which ODK Collect shows the
    registrar (the kit's JSON 415 it would not). The size stays HTTP_MAX_BODY_BYTES, which is
    what the pre-flight announces (ODK Collect splits larger submissions)."""
    return {("POST", SUBMIT_PATH): BodyRule(media_types=None)}


async def _instance_xml(request: Request) -> bytes:
    form = await request.form()
    try:
        part = form.get(SUBMISSION_PART)
        if isinstance(part, UploadFile):
            return await part.read()
        if isinstance(part, str):
            return part.encode()
    finally:
        await form.close()  # the spooled files of every part, attachments included
    raise OpenRosaRefusal(400, f"{SUBMISSION_PART}: required (multipart/form-data)")


def _invalid(problems: list[tuple[str, str]]) -> OpenRosaRefusal:
    return OpenRosaRefusal(422, "; ".join(f"{field}: {message}" for field, message in problems))


async def _caller(request: Request, devices: UnitOfWork[PgDevices]) -> Principal:
    """Device credentials (HTTP Basic) or the JSON API's bearer token. The Authorization header
    and the password are never logged."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and credentials:
        try:
            return await token_verifier(request).verify(credentials.strip())
        except InvalidTokenError:
            raise _challenge("invalid bearer token") from None
        except IdentityProviderUnavailableError:
            raise OpenRosaRefusal(503, "the identity provider is unavailable") from None
    if scheme == "basic" and credentials:
        username, password = _basic_credentials(credentials.strip())
        device = await authenticate_device(devices.reading, username, password)
        if device is None:
            raise _challenge("unknown, wrong or revoked device credentials")
        return device.as_principal()
    raise _challenge("credentials required")


def _basic_credentials(encoded: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _challenge("unreadable Basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon or not username:
        raise _challenge("unreadable Basic credentials")
    return username, password


def _challenge(reason: str) -> OpenRosaRefusal:
    return OpenRosaRefusal(401, reason, {"WWW-Authenticate": f'Basic realm="{REALM}"'})


def _xml(root: Element, status: int, headers: dict[str, str] | None = None) -> Response:
    body = tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, status_code=status, media_type=XML, headers=headers)


def _form_title(xform: bytes) -> str:
    return _between(xform, b"<h:title>", b"</h:title>") or FORM_ID


def _form_version(xform: bytes) -> str:
    return _between(xform, f'id="{FORM_ID}" version="'.encode(), b'"')


def _between(text: bytes, start: bytes, end: bytes) -> str:
    _, found, rest = text.partition(start)
    return rest.partition(end)[0].decode() if found else ""


# ----- device credentials (JSON, supervisors) -----

Supervisor = Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))]


def _device_routes(devices: UnitOfWork[PgDevices]) -> APIRouter:
    router = APIRouter(tags=["openrosa"])

    @router.post(
        DEVICES_PATH,
        status_code=201,
        responses={
            201: {
                "model": OpenRosaDeviceCredentials,
                "description": "The device's credentials; the password is shown only here",
            },
            403: {"description": "A centre outside yours"},
            409: {"description": "A retry of an issue whose device was revoked since"},
        },
    )
    async def issue(
        command: IssueDevice, supervisor: Supervisor, idempotency_key: RequiredIdempotencyKey
    ) -> JSONResponse:
        """Credentials for an OpenRosa device, acting as ``registrar`` in ``centres`` (within
        yours). The password is never stored, only its hash: the answer stored under the
        Idempotency-Key leaves it out, and a retry with the same key gets a new password for
        the same device (the first answer may have been lost on the way)."""
        key = scoped_key(supervisor.subject, idempotency_key)
        fingerprint = request_fingerprint("POST", DEVICES_PATH, command.model_dump(mode="json"))
        async with devices.transaction() as work:
            try:
                earlier = await work.idempotency_keys.claim(key, fingerprint)
            except IdempotencyKeyReused:
                raise key_reused() from None
            if earlier is not None:
                issued = await reissue_password(work, earlier.body["username"])
                if issued is None:
                    raise ApiError(409, "device_revoked", "this device was revoked since")
                replayed = {REPLAYED_HEADER: "true"}
            else:
                try:
                    issued = await issue_device(
                        work, command, supervisor=supervisor, now=datetime.now(UTC)
                    )
                except OutsideYourCentres:
                    raise outside_centres("body.centres") from None
                await work.idempotency_keys.store(key, StoredResponse(201, issued.device.as_json()))
                replayed = {}
        log.info(
            "openrosa device issued",
            username=issued.device.username,
            registrar=issued.device.registrar,
            centres=sorted(issued.device.centres),
        )
        # The password is a secret: no cache between here and the supervisor may keep it.
        return JSONResponse(
            issued.as_json(), status_code=201, headers={"Cache-Control": "no-store", **replayed}
        )

    @router.get(
        DEVICES_PATH,
        # The dict is answered as built: OpenRosaDevices only documents it.
        response_model=None,
        responses={200: {"model": OpenRosaDevices, "description": "The devices"}},
    )
    async def list_devices(supervisor: Supervisor) -> dict[str, Any]:
        """Devices with one of your centres, newest first, revoked ones too; no secrets."""
        async with devices.reading() as work:
            found = await work.listing(supervisor.centre_filter)
        return {"items": [device.as_json() for device in found]}

    @router.post(
        f"{DEVICES_PATH}/{{username}}/revocation",
        responses={
            200: {
                "model": OpenRosaDevice,
                "description": "The device, revoked (from now on every request is a 401)",
                "content": {"application/json": {"example": REVOKED_DEVICE}},
            },
            404: {"description": "No such device with one of your centres"},
        },
    )
    async def revoke(
        username: str, supervisor: Supervisor, idempotency_key: RequiredIdempotencyKey
    ) -> JSONResponse:
        """Revokes a device's credentials (a lost or stolen tablet), at once."""

        async def perform(work: PgDevices) -> tuple[int, Any]:
            revoked = await work.revoke(
                username,
                by=supervisor.subject,
                at=datetime.now(UTC),
                centres=supervisor.centre_filter,
            )
            if revoked is None:
                raise ApiError(404, "not_found", f"no device {username} in your centres")
            log.info("openrosa device revoked", username=username)
            return 200, revoked.as_json()

        async with devices.transaction() as work:
            return await respond_once(
                work,
                key=idempotency_key,
                subject=supervisor.subject,
                method="POST",
                path=f"{DEVICES_PATH}/{username}/revocation",
                body=None,
                action=perform,
            )

    return router

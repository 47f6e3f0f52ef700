"""What an ODK Collect tablet sends: the registration form's instance XML, posted as OpenRosa
submissions (multipart, the instance as ``xml_submission_file``) with the device's credentials
(HTTP Basic). The instance's ``meta/instanceID`` is the submission's identity: a resend after
a dropped connection registers nobody twice.

Written as any OpenRosa client would, from the form (services/intake/forms/registration.md),
not from intake's code.
"""

from __future__ import annotations

import uuid
from typing import Any
from xml.etree import ElementTree as ET  # building XML, never parsing it

import httpx

FORM_ID = "retour_registration"
OPENROSA_HEADERS = {"X-OpenRosa-Version": "1.0"}


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _add(parent: ET.Element, name: str, value: Any = None) -> ET.Element:
    element = ET.SubElement(parent, name)
    if value is not None:
        element.text = str(value)
    return element


def instance_xml(body: dict[str, Any], *, instance_id: str | None = None) -> bytes:
    """The form filled in with ``body`` (a ``POST /returnees`` body), as Collect saves it."""
    root = ET.Element(FORM_ID, {"id": FORM_ID})
    for name in ("reception_centre", "arrival_date", "return_type", "host_country"):
        _add(root, name, body[name])
    for name in ("region_of_origin", "sex", "household_size"):
        _add(root, name, body[name])
    # A select_multiple's answer: the chosen names, separated by spaces.
    _add(root, "vulnerabilities", " ".join(body.get("vulnerabilities", [])))
    _add(root, "preferred_language", body.get("preferred_language", "fr"))
    consents = _add(root, "consents")
    for name in ("data_processing", "sms_contact", "partner_sharing"):
        _add(consents, name, _yes_no(body["consents"][name]))
    personal = _add(root, "personal")
    given = body["personal"]
    _add(personal, "given_name", given["given_name"])
    _add(personal, "family_name", given["family_name"])
    _add(personal, "other_names", given.get("other_names") or "")
    born = given.get("date_of_birth")
    _add(personal, "birth_date_known", _yes_no(born is not None))
    _add(personal, "date_of_birth", born or "")
    _add(personal, "phone", given.get("phone") or "")
    _add(personal, "national_id", given.get("national_id") or "")
    age = body.get("age_estimate")
    _add(root, "age_estimate", "" if age is None else age)
    meta = _add(root, "meta")
    _add(meta, "instanceID", instance_id or f"uuid:{uuid.uuid4()}")
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


class OpenRosaClient:
    """A tablet: the device credentials a supervisor issued, and the server's address."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, username: str, password: str):
        self._http = http
        self._url = base_url
        self._auth = httpx.BasicAuth(username, password)

    async def submit(self, instance: bytes) -> httpx.Response:
        files = {"xml_submission_file": ("submission.xml", instance, "text/xml")}
        return await self._http.post(
            f"{self._url}/submission", files=files, auth=self._auth, headers=OPENROSA_HEADERS
        )

    @staticmethod
    def returnee_id(response: httpx.Response) -> str:
        """The registration a successful submission made (or found again), from ``Location``."""
        return response.headers["Location"].rsplit("/", 1)[-1]

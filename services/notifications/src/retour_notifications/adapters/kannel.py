"""SMS through Kannel's smsbox HTTP interface (GET /cgi-bin/sendsms).

What a failed call means decides whether the message may be sent again: a gateway that could
not be reached, or that said it did not take the message, has not sent it (retried); one that
took the request and then gave no clear answer may have (``OutcomeUnknown``: never resent, its
delivery report settles it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from pydantic import SecretStr

from retour_notifications.adapters.http_get import AnswerLostError, http_get
from retour_notifications.domain.delivery import (
    DeliveryRejected,
    GatewayUnavailable,
    OutcomeUnknown,
    OutgoingMessage,
)
from retour_notifications.domain.delivery_reports import REQUESTED_REPORTS, ReportSignature

# Kannel's `coding`: 0 = 7-bit GSM, 2 = UCS-2. With charset=UTF-8 Kannel converts the text.
_CODING = {"gsm7": "0", "ucs2": "2"}
_NUMBER = re.compile(r"\+?\d{6,}")
# smsbox answers 503 when it could not hand the message to bearerbox ("Sending failed"):
# nothing went out. Any other 5xx (a proxy's 502 or 504 after forwarding, a 500) says nothing
# sure about whether Kannel took it.
_NOT_TAKEN = 503


@dataclass(frozen=True)
class DeliveryReportCallback:
    """Where Kannel reports what became of each message: this service's route, reached from
    smsbox, and the signature that authenticates a report about one notification."""

    url: str
    signature: ReportSignature

    def for_message(self, message: OutgoingMessage) -> str:
        nid = message.notification_id
        query = urlencode({"n": str(nid), "s": self.signature.sign(nid)})
        # %d: Kannel puts the report's type there (domain/delivery_reports.py).
        return f"{self.url}?{query}&type=%d"


class KannelSms:
    def __init__(
        self,
        sendsms_url: str,
        *,
        username: str,
        password: SecretStr,
        sender: str | None = None,
        timeout_seconds: float = 10.0,
        reports: DeliveryReportCallback | None = None,
    ) -> None:
        self._url = sendsms_url
        self._username = username
        self._password = password
        self._sender = sender
        self._timeout = timeout_seconds
        self._reports = reports

    async def send(self, message: OutgoingMessage) -> None:
        params = {
            "username": self._username,
            "password": self._password.get_secret_value(),
            "to": message.address,
            "text": message.body,
            "charset": "UTF-8",
            "coding": _CODING.get(message.encoding or "", "2"),
        }
        if self._sender:
            params["from"] = self._sender
        if self._reports is not None:
            params["dlr-mask"] = str(int(REQUESTED_REPORTS))
            params["dlr-url"] = self._reports.for_message(message)
        # The URL holds the password, the phone number and the text: it appears in no log
        # and no error message below.
        try:
            answer = await http_get(f"{self._url}?{urlencode(params)}", time_limit=self._timeout)
        except AnswerLostError as error:
            raise OutcomeUnknown(f"kannel took the request, then {error}") from None
        except (OSError, TimeoutError) as error:
            raise GatewayUnavailable(f"kannel unreachable ({type(error).__name__})") from None
        _judge(answer.status, answer.body)


def _judge(status: int, body: str) -> None:
    """Kannel answers 202 "0: Accepted for delivery" (or "3: Queued for later delivery")."""
    if 200 <= status < 300:
        return
    reason = f"kannel answered {status}: {_summary(body)}"
    if status == 403 and "authorization" in body.lower():
        # Our credentials, not the message: every message would fail the same way, and
        # fixing the configuration must let them all go out.
        raise GatewayUnavailable(reason)
    if 400 <= status < 500:
        raise DeliveryRejected(reason)
    if status == _NOT_TAKEN:
        raise GatewayUnavailable(reason)
    raise OutcomeUnknown(reason)


def _summary(body: str) -> str:
    first_line = body.strip().splitlines()[0] if body.strip() else "(empty)"
    return _NUMBER.sub("<number>", first_line)[:160]

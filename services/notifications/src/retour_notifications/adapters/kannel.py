"""SMS through Kannel's smsbox HTTP interface (GET /cgi-bin/sendsms)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from pydantic import SecretStr

from retour_notifications.adapters.http_get import MalformedAnswerError, http_get
from retour_notifications.domain.delivery import (
    DeliveryRejected,
    GatewayUnavailable,
    OutgoingMessage,
)

# Kannel's `coding`: 0 = 7-bit GSM, 2 = UCS-2. With charset=UTF-8 Kannel converts the text.
_CODING = {"gsm7": "0", "ucs2": "2"}
_NUMBER = re.compile(r"\+?\d{6,}")


class KannelSms:
    def __init__(
        self,
        sendsms_url: str,
        *,
        username: str,
        password: SecretStr,
        sender: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._url = sendsms_url
        self._username = username
        self._password = password
        self._sender = sender
        self._timeout = timeout_seconds

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
        # The URL holds the password, the phone number and the text: it appears in no log
        # and no error message below.
        try:
            answer = await http_get(f"{self._url}?{urlencode(params)}", time_limit=self._timeout)
        except (OSError, TimeoutError, EOFError, MalformedAnswerError) as error:
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
    raise GatewayUnavailable(reason)


def _summary(body: str) -> str:
    first_line = body.strip().splitlines()[0] if body.strip() else "(empty)"
    return _NUMBER.sub("<number>", first_line)[:160]

"""Email through an SMTP relay (aiosmtplib)."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

import aiosmtplib
from pydantic import SecretStr

from retour_notifications.domain.delivery import (
    DeliveryRejected,
    GatewayUnavailable,
    OutgoingMessage,
)

SmtpSecurity = Literal["none", "starttls", "tls"]
_ADDRESS = re.compile(r"\S+@\S+")
_AUTHENTICATION_CODES = frozenset({530, 534, 535, 538})


class SmtpEmail:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        security: SmtpSecurity = "none",
        username: str | None = None,
        password: SecretStr | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._security = security
        self._username = username
        self._password = password
        self._timeout = timeout_seconds

    async def send(self, message: OutgoingMessage) -> None:
        try:
            await aiosmtplib.send(
                self._email(message),
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password.get_secret_value() if self._password else None,
                use_tls=self._security == "tls",
                start_tls=self._security == "starttls",
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = sorted({refusal.code for refusal in error.recipients})
            _raise_for(codes[-1], f"recipient refused ({', '.join(map(str, codes))})")
        except aiosmtplib.SMTPResponseException as error:
            _raise_for(error.code, _ADDRESS.sub("<address>", error.message)[:160])
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise GatewayUnavailable(f"smtp unreachable ({type(error).__name__})") from None

    def _email(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.address
        email["Subject"] = message.subject or ""
        email["Date"] = formatdate(usegmt=True)
        # Derived from the notification id: a relay or mailbox that sees the same message
        # twice (a retry after a lost answer) can tell it is one message.
        email["Message-ID"] = f"<{message.notification_id}@notifications.retour>"
        email.set_content(message.body)
        return email


def _raise_for(code: int, detail: str) -> None:
    reason = f"smtp answered {code}: {detail}"
    # 5xx is permanent for this message, except refused credentials: ours, not its fault.
    if 500 <= code < 600 and code not in _AUTHENTICATION_CODES:
        raise DeliveryRejected(reason) from None
    raise GatewayUnavailable(reason) from None

"""The SMS and email gateways against real ones: Kannel (bearerbox, smsbox and the fake SMS
centre of kannel-extras) and the local SMTP sink, both started by `make up`.

This module also defines the probes the delivery tests read: what the fake SMS centre received
(its log, .local/kannel/fakesmsc.log) and what the SMTP sink kept (.local/smtp/maildir).
"""

from __future__ import annotations

import email
import random
import re
import socket
from collections.abc import Collection
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes
from uuid import uuid4

import phonenumbers
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

from retour_notifications.adapters.kannel import KannelSms
from retour_notifications.adapters.smtp import SmtpEmail
from retour_notifications.domain.delivery import (
    DeliveryRejected,
    GatewayUnavailable,
    OutgoingMessage,
)
from retour_notifications.domain.rules import Channel
from retour_notifications.domain.sms_text import measure
from retour_notifications.settings import LOCAL_KANNEL_PASSWORD
from retour_test_infra import eventually

pytestmark = pytest.mark.integration

LOCAL = Path(__file__).resolve().parent.parent / ".local"
FAKESMSC_LOG = LOCAL / "kannel" / "fakesmsc.log"
MAILDIR = LOCAL / "smtp" / "maildir"
KANNEL_URL = "http://127.0.0.1:13013/cgi-bin/sendsms"
SMTP_SINK = ("127.0.0.1", 8025)

# "Got message 7: <RETOUR +22376543210 text Bonjour>", or for the parts of a long message
# "<RETOUR +223... udh %05%00%03%2A%02%01 data Bon...>" (url-encoded UDH and payload).
_RECEIVED = re.compile(r"Got message \d+: <\S+ (?P<to>\S+) (?P<kind>\S+) (?P<rest>.*)>$")


@dataclass(frozen=True)
class ReceivedSms:
    receiver: str
    parts: int
    payload: bytes

    def text(self, encoding: str) -> str:
        """Kannel hands 7-bit text to the fake centre as UTF-8 and UCS-2 as UTF-16."""
        return self.payload.decode("utf-16-be" if encoding == "ucs2" else "utf-8")


class FakeSmsCentre:
    """What Kannel's fake SMS centre received since this probe was made.

    The log is shared by every test and by the running stack, and it grows across Kannel
    restarts, so a probe reads from the end it found when it was made.
    """

    def __init__(self) -> None:
        if not FAKESMSC_LOG.exists():
            pytest.fail("no fake SMS centre log: start the stack with `make up`", pytrace=False)
        self._offset = FAKESMSC_LOG.stat().st_size

    def received(self) -> dict[str, list[ReceivedSms]]:
        with FAKESMSC_LOG.open("rb") as log:
            log.seek(self._offset)
            lines = log.read().decode("utf-8", "replace").splitlines()
        messages: dict[str, list[ReceivedSms]] = {}
        long_ones: dict[tuple[str, int], dict[int, bytes]] = {}
        for line in lines:
            found = _RECEIVED.search(line)
            if found is None:
                continue  # Kannel's own lines, or one still being written
            to, kind, rest = found["to"], found["kind"], found["rest"]
            if kind == "udh":
                udh, _, payload = rest.split(" ", 2)
                _, _, _, ref, total, number = unquote_to_bytes(udh)
                long_ones.setdefault((to, ref), {})[number] = _bytes(payload)
                if len(long_ones[(to, ref)]) == total:
                    parts = long_ones.pop((to, ref))
                    joined = b"".join(parts[n] for n in sorted(parts))
                    messages.setdefault(to, []).append(ReceivedSms(to, total, joined))
            elif kind == "ucs-2":
                messages.setdefault(to, []).append(ReceivedSms(to, 1, _bytes(rest)))
            else:
                messages.setdefault(to, []).append(ReceivedSms(to, 1, rest.encode()))
        return messages

    def to(self, phone: str) -> list[ReceivedSms]:
        return self.received().get(phone, [])


def _bytes(url_encoded: str) -> bytes:
    return unquote_to_bytes(url_encoded.replace("+", " "))


class SmtpSink:
    """What the local SMTP sink kept since this probe was made (one file per message)."""

    def __init__(self) -> None:
        if not (MAILDIR / "new").is_dir():
            pytest.fail("no SMTP sink maildir: start the stack with `make up`", pytrace=False)
        self._seen = set((MAILDIR / "new").iterdir())

    def kept(self, message_ids: Collection[str]) -> list[EmailMessage]:
        """Messages kept whose Message-ID is one of ``message_ids``."""
        found: list[EmailMessage] = []
        for path in sorted(set((MAILDIR / "new").iterdir()) - self._seen):
            with path.open("rb") as file:
                message = email.message_from_binary_file(file, _class=EmailMessage, policy=default)
            if message["Message-ID"] in message_ids:
                found.append(message)
        return found


def new_phone(prefix: str = "+2237", digits: int = 7) -> str:
    """A valid number nobody else uses in this run (tests tell their messages apart by it);
    Malian (+223 7x xx xx xx) unless told otherwise."""
    while True:
        candidate = f"{prefix}{random.randrange(10**digits):0{digits}d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            return candidate


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kannel(**changes: Any) -> KannelSms:
    options: dict[str, Any] = {
        "username": "retour",
        "password": SecretStr(LOCAL_KANNEL_PASSWORD),
        "timeout_seconds": 5.0,
        **changes,
    }
    return KannelSms(options.pop("url", KANNEL_URL), **options)


def sms(phone: str, text: str) -> OutgoingMessage:
    encoding = measure(text).encoding.value
    return OutgoingMessage(uuid4(), Channel.SMS, phone, None, text, encoding)


class TestKannel:
    @pytest.mark.parametrize(
        "text",
        [
            "Bienvenue au Mali, dossier [5F0C6D1E] : 350 000 FCFA €",
            "Vous êtes enregistrée. Aïssata, ça va ? 👍",
        ],
        ids=["gsm7", "ucs2"],
    )
    async def test_the_phone_receives_the_text_as_sent(self, text: str) -> None:
        centre, phone = FakeSmsCentre(), new_phone()
        message = sms(phone, text)

        await kannel().send(message)

        # Kannel accepts the message, then hands it to the SMS centre on its own time.
        [received] = await eventually(lambda: centre.to(phone), what=f"an SMS to {phone}")
        assert received.text(message.encoding or "") == text

    @pytest.mark.parametrize(("text", "parts"), [("a" * 300, 2), ("é" * 200 + "ê", 3)])
    async def test_a_long_text_arrives_in_the_parts_we_counted(self, text: str, parts: int) -> None:
        centre, phone = FakeSmsCentre(), new_phone()
        message = sms(phone, text)
        assert measure(text).segments == parts

        await kannel().send(message)

        [received] = await eventually(lambda: centre.to(phone), what=f"an SMS to {phone}")
        assert (received.parts, received.text(message.encoding or "")) == (parts, text)

    async def test_a_number_outside_mali_is_refused_for_good(self) -> None:
        with pytest.raises(DeliveryRejected, match=r"kannel answered 400: Number.* denied"):
            await kannel().send(sms(new_phone("+22507", 8), "Bonjour"))

    async def test_refused_credentials_are_not_the_messages_fault(self) -> None:
        wrong = kannel(password=SecretStr("wrong"))

        with pytest.raises(GatewayUnavailable, match="kannel answered 403: Authorization failed"):
            await wrong.send(sms(new_phone(), "Bonjour"))

    async def test_a_gateway_that_is_not_there_is_unavailable(self) -> None:
        gone = kannel(url=f"http://127.0.0.1:{free_port()}/cgi-bin/sendsms")

        with pytest.raises(GatewayUnavailable, match=r"kannel unreachable \(Connection"):
            await gone.send(sms(new_phone(), "Bonjour"))


class Refusing:
    """An SMTP server's RCPT answers: 550 for nobody@, 451 for busy@, 250 otherwise."""

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 <nobody@example.org>: no such mailbox"
        if address.startswith("busy@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        return "250 OK"


def email_to(address: str) -> OutgoingMessage:
    return OutgoingMessage(uuid4(), Channel.EMAIL, address, "Objet é", "Corps du message é", None)


class TestSmtp:
    async def test_the_sink_keeps_the_message_under_its_notification_id(self) -> None:
        sink, message = SmtpSink(), email_to("equipe.gao@centres.retour.local")

        await SmtpEmail(host=SMTP_SINK[0], port=SMTP_SINK[1], sender="n@retour.local").send(message)

        [kept] = sink.kept({f"<{message.notification_id}@notifications.retour>"})
        assert (kept["To"], kept["Subject"]) == ("equipe.gao@centres.retour.local", "Objet é")
        assert kept.get_content().strip() == "Corps du message é"

    @pytest.mark.parametrize(
        ("address", "error", "reason"),
        [
            ("nobody@example.org", DeliveryRejected, r"smtp answered 550: recipient refused"),
            ("busy@example.org", GatewayUnavailable, r"smtp answered 451"),
        ],
    )
    async def test_a_refused_recipient_is_permanent_only_for_a_5xx(
        self, address: str, error: type[Exception], reason: str
    ) -> None:
        controller = Controller(Refusing(), hostname="127.0.0.1", port=free_port())
        controller.start()
        try:
            relay = SmtpEmail(host="127.0.0.1", port=controller.port, sender="n@retour.local")
            with pytest.raises(error, match=reason):
                await relay.send(email_to(address))
        finally:
            controller.stop()

    async def test_a_relay_that_is_not_there_is_unavailable(self) -> None:
        relay = SmtpEmail(host="127.0.0.1", port=free_port(), sender="n@retour.local")

        with pytest.raises(GatewayUnavailable, match="smtp unreachable"):
            await relay.send(email_to("equipe@example.org"))

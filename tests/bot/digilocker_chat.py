"""One user's chat with a runner wired for DigiLocker, against FakeIdto: shared by the runner
and web app tests. `Chat` plays the user; `back_from` takes DigiLocker's redirect apart."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from bot.app import build_provider
from bot.config import load_settings
from bot.digilocker import RETURN_PATH, DigiLockerCalls, Return
from bot.render import Message
from bot.runner import Runner
from flows import ConsentGiven, DigiLockerChosen, Event, PromptKey, StartRequested
from kyc.idto import IdtoDigiLocker
from storage import Database, NumberVault, UserKey
from storage.models import KycResult
from tests.fakes.channel import RecordingChannel
from tests.fakes.idto_server import AUTHORIZE_PATH, FakeIdto
from tests.scenario_tools import opening, say

__all__ = ["PUBLIC_URL", "TTL_SECONDS", "USER", "Back", "Chat", "back_from", "results"]

K = PromptKey
USER = UserKey(channel="test", external_id="digilocker-1")
PUBLIC_URL = "https://kyc.example.test"
TTL_SECONDS = 600


@dataclass(frozen=True)
class Back:
    """Where DigiLocker sent the browser back to, taken apart."""

    url: str
    state: str
    code: str


def back_from(url: str) -> Back:
    """The redirect DigiLocker answered with: it must be our return path."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == PUBLIC_URL + RETURN_PATH, url
    query = parse_qs(parts.query)
    return Back(url, query["state"][0], query.get("code", [""])[0])


class Chat:
    """One user talking to a runner wired with DigiLocker (and Aadhaar OTP) on a clock we move."""

    def __init__(self, database: Database, fake: FakeIdto) -> None:
        settings = load_settings(
            None,
            {
                "KYCBOT_SECURITY__HMAC_KEY": "h" * 40,
                "KYCBOT_SECURITY__ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
                "KYCBOT_FLOW__METHODS": "aadhaar_otp,digilocker",
                "KYCBOT_FLOW__DIGILOCKER_TTL_SECONDS": str(TTL_SECONDS),
                "KYCBOT_WEB__PUBLIC_URL": PUBLIC_URL,
                "KYCBOT_PROVIDERS__IDTO__BASE_URL": fake.url,
                "KYCBOT_PROVIDERS__IDTO__API_KEY": fake.api_key,
                "KYCBOT_PROVIDERS__IDTO__CLIENT_ID": fake.client_id,
            },
        )
        vault = NumberVault(
            encryption_key=settings.security.encryption_key_bytes(),
            hmac_key=settings.security.hmac_key_bytes(),
        )
        self.fake = fake
        self.database = database
        self.now = datetime.now(UTC)
        self.provider = build_provider(settings)
        self.calls = DigiLockerCalls(
            client=IdtoDigiLocker(
                api_key=fake.api_key,
                client_id=fake.client_id,
                consent_purpose=settings.providers.idto.consent_purpose,
                base_url=fake.url,
            ),
            database=database,
            vault=vault,
            public_url=PUBLIC_URL,
            ttl=timedelta(seconds=TTL_SECONDS),
            clock=self.clock,
        )
        self.runner = Runner(
            settings=settings,
            database=database,
            provider=self.provider,
            vault=vault,
            clock=self.clock,
            digilocker=self.calls,
        )
        self.channel = RecordingChannel()

    def clock(self) -> datetime:
        """The time the runner and DigiLockerCalls see: `now`, moved by the test."""
        return self.now

    async def say(self, *events: Event) -> Message:
        for event in events:
            await self.runner.handle(USER, event, self.channel)
        return self.channel.messages[-1]

    async def to_method_question(self) -> Message:
        """/start and "I agree"; the method question."""
        await self.say(StartRequested())
        question = await self.say(ConsentGiven())
        assert say(K.METHOD_QUESTION) in question.text, question
        return question

    async def link(self) -> str:
        """Choose DigiLocker; the URL of the "Open DigiLocker" button."""
        message = await self.say(DigiLockerChosen())
        assert opening(K.DIGILOCKER_OPEN) in message.text, message
        assert [link.label for link in message.links] == [say(K.BUTTON_OPEN_DIGILOCKER)]
        assert message.protect_content, "whoever opens the link verifies into this chat"
        url = message.links[0].url
        assert url.startswith(self.fake.url + AUTHORIZE_PATH), url
        return url

    async def handle(self, user: UserKey, event: Event) -> None:
        """What the web app hands a returning browser to: the runner, for that user's chat."""
        await self.runner.handle(user, event, self.channel)

    async def come_back(self, back: Back) -> Return:
        """The browser arrives at our return URL."""
        return await self.calls.come_back(state=back.state, code=back.code, handle=self.handle)

    async def aclose(self) -> None:
        """Close the IDTO and OTP provider clients."""
        await self.calls.aclose()
        await self.provider.aclose()


async def results(database: Database) -> list[KycResult]:
    """Every stored verification result."""
    async with database.session() as session:
        return list(await session.scalars(select(KycResult)))

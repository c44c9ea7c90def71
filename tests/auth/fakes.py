"""Fakes at the network edge: an SMS gateway that records what it would send."""

import re
from dataclasses import dataclass, field


@dataclass
class RecordingSmsSender:
    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))

    def last_code(self, phone: str) -> str:
        texts = [text for to, text in self.sent if to == phone]
        match = re.search(r"\b(\d{6})\b", texts[-1])
        assert match, texts[-1]
        return match.group(1)

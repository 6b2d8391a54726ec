"""The chat message as the chat servers publish it to `chat-messages` (their format, read strictly)."""

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

MAX_TEXT_CHARS = 10_000  # r/science has 9k-character comments; longer is not chat


class ChatMessage(BaseModel):
    """One chat message as the chat servers publish it to `chat-messages`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: UUID
    channel_id: str = Field(min_length=1, max_length=128)
    user_id: str = Field(min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, repr=False)
    sent_at: AwareDatetime
    # When the author's account was created, as the platform knows it (Twitch, Discord and YouTube all
    # do). The raid signal counts only the copies of accounts younger than the channel's
    # `established_days`: a crowd of long-standing regulars cheering one line is not a raid. Absent:
    # the account counts as new (older producers, platforms that do not say).
    account_created_at: AwareDatetime | None = None


Label = Literal["remove", "allow"]  # a human moderator's decision on a message


def label_of(removed: int) -> Label:
    """The decision a 0/1 removal label stands for."""
    return "remove" if removed else "allow"

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


Label = Literal["remove", "allow"]  # a human moderator's decision on a message

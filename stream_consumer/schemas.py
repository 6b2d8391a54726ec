"""Wire models: what crosses the streams, parsed once at the edge."""

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


class ChampionManifest(BaseModel):
    """`champion.json` in the models bucket: which exported model serves, written when the alias moves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str
    version: str
    run_id: str
    artifact_uri: str  # s3://bucket/key of the exported model archive
    sha256: str
    promoted_at: AwareDatetime
    promoted_by: str

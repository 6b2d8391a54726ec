"""Where a deployable reads the channel policies: a local file, or `policy.json` in the models bucket
(re-read at most every few seconds; a broken or unreachable one keeps the last good policies).
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from contracts.policy import PolicyBook
from runtime.errors import AwsError, NotFoundError, NotModifiedError, TransientError, aws_errors
from runtime.logs import structured_logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structured_logger("chat-moderation")


class PolicySource:
    """The current `PolicyBook`; the default policy for every channel when none is configured."""

    def __init__(
        self,
        s3: "S3Client | None",
        bucket: str,
        key: str,
        path: Path | None = None,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._path = path
        self._interval = interval_s
        self._clock = clock
        self._on_error = on_error or log.error
        self._checked_at: float | None = None
        self._etag: str | None = None
        self.book = PolicyBook()

    def __call__(self) -> PolicyBook:
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self._interval:
            self._checked_at = now
            self._refresh()
        return self.book

    def _refresh(self) -> None:
        try:
            if self._path is not None:
                self.book = PolicyBook.model_validate_json(self._path.read_bytes())
                return
            if self._s3 is None:
                return
            with aws_errors(f"GetObject s3://{self._bucket}/{self._key}"):
                kwargs = {"IfNoneMatch": self._etag} if self._etag else {}
                resp = self._s3.get_object(Bucket=self._bucket, Key=self._key, **kwargs)  # type: ignore[arg-type]
                body = resp["Body"].read()
            self.book = PolicyBook.model_validate_json(body)
            self._etag = resp.get("ETag")
        except NotModifiedError:
            return
        except NotFoundError:
            self.book, self._etag = PolicyBook(), None  # no policy file: the default for everyone
        except TransientError as err:
            self._on_error(f"policy unreachable ({err.code}); keeping the last good policies")
        except AwsError as err:
            self._on_error(
                f"policy s3://{self._bucket}/{self._key}: {err.code}; keeping the last good policies"
            )
        except OSError as err:  # the local policy file
            self._on_error(f"policy unreachable ({type(err).__name__}); keeping the last good policies")
        except ValidationError as err:
            self._on_error(f"policy invalid ({err.error_count()} errors); keeping the last good policies")

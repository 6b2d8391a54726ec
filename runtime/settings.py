"""The one settings pattern of every deployable: a pydantic-settings class with its own prefix, the AWS
endpoint and region, built for a stack (`for_stack`) and written back as environment variables for a
child process (`to_env`), so that callers merge settings instead of spelling variables. Validation
never touches the network: a secret is read when first used."""

import json
from typing import Any, ClassVar, Self

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from runtime.stack import Stack, load_stack

STACK = load_stack()


class DeployableSettings(BaseSettings):
    """Base of `ConsumerSettings`, `ProducerSettings`, `TrainingSettings`, `MonitoringSettings`."""

    aws_endpoint_url: str | None = None  # None: boto3 reads AWS_ENDPOINT_URL(_<SERVICE>) or real AWS
    aws_region: str = STACK.region

    # The fields that name a resource of the stack (each field is named after the stack's resource).
    STACK_RESOURCES: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def for_stack(cls, stack: Stack, **overrides: Any) -> Self:
        """Settings naming every resource of `stack` (a renamed stack of a test, benchmark or demo run)."""
        names = {field: getattr(stack, field).name for field in cls.STACK_RESOURCES}
        return cls(**(names | overrides))

    def to_env(self) -> dict[str, str]:
        """The `<PREFIX>_<FIELD>` variables that rebuild these settings in another process."""
        prefix = self.model_config.get("env_prefix", "")
        values = self.model_dump(mode="json")
        for name in list(values):  # a secret as itself: the child needs it, not its mask
            if isinstance(secret := getattr(self, name), SecretStr):
                values[name] = secret.get_secret_value()
        return {
            f"{prefix}{name.upper()}": json.dumps(value) if isinstance(value, list | dict) else str(value)
            for name, value in values.items()
            if value is not None
        }

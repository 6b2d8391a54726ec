"""Session fixtures: the data sets, and a real LocalStack started once per test session."""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from botocore.exceptions import ClientError
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.categories import Category
from infra.bootstrap import bootstrap
from infra.localstack import LocalStack, MotoServer, free_port, is_ready
from runtime import aws
from runtime.paths import PROJECT_ROOT
from runtime.stack import Stack
from runtime.telemetry import quiet
from stream_consumer.identity import names_identity
from stream_consumer.scorer import LinearScorer
from tests.emulator import unique_stack
from training.corpora import Example, Source, source_splits
from training.train import ModelParams, fit

if TYPE_CHECKING:
    pass

# Nothing phones home from a test run either.
quiet()
for _var, _value in {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",  # pragma: allowlist secret
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_var, _value)


class TestEnv(BaseSettings):
    """What a test run may be pointed at."""

    model_config = SettingsConfigDict(extra="ignore")

    data_dir: Path = Field(
        default=PROJECT_ROOT.parent / "shared" / "data", validation_alias=AliasChoices("DATA_DIR")
    )
    # Only an endpoint named here is reused; otherwise the session starts its own LocalStack.
    aws_endpoint_url: str | None = Field(default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked `slow` first, longest first, each of the first two followed by a quick one.

    `make test` runs two pytest-xdist workers that each take two tests at the start, then one more
    whenever they run low: so the two longest start at once, on different workers, and the rest of the
    long ones are taken early, while quick tests fill the gaps; a long test started last would hold
    the whole run up."""

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        return float(marker.args[0]) if marker else 0.0

    slow = sorted((i for i in items if seconds(i) > 0), key=seconds, reverse=True)
    quick = [i for i in items if seconds(i) == 0]
    head = [item for pair in zip(slow[:2], quick[:2], strict=False) for item in pair]
    items[:] = [*head, *(i for i in [*slow, *quick] if i not in head)]


@pytest.fixture(scope="session", autouse=True)
def shared_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One embedding cache for every training of the session, in-process or in a child (the demo's):
    each test keeps its own state directory, but none embeds a text another already has. Under
    pytest-xdist the workers share it (SQLite serialises their writes)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "embeddings"
    folder.mkdir(exist_ok=True)
    path = folder / "embeddings.sqlite"
    before = os.environ.get("TRAINING_EMBEDDING_CACHE_FILE")
    os.environ["TRAINING_EMBEDDING_CACHE_FILE"] = str(path)
    yield path
    if before is None:
        os.environ.pop("TRAINING_EMBEDDING_CACHE_FILE", None)
    else:
        os.environ["TRAINING_EMBEDDING_CACHE_FILE"] = before


@pytest.fixture(scope="session")
def test_env() -> TestEnv:
    return TestEnv()


@pytest.fixture(scope="session")
def data_dir(test_env: TestEnv) -> Path:
    """The real data sets; a missing folder fails the run instead of skipping what needs it."""
    if not (test_env.data_dir / "rscience" / "comments.csv").is_file():
        pytest.fail(f"data sets not found under DATA_DIR={test_env.data_dir}", pytrace=False)
    return test_env.data_dir


@pytest.fixture(scope="session")
def localstack(test_env: TestEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack | None]:
    """A LocalStack of this session's own (fresh data dir, free port), or None when one is named."""
    if test_env.aws_endpoint_url:
        if not is_ready(test_env.aws_endpoint_url):
            pytest.fail(f"AWS_ENDPOINT_URL={test_env.aws_endpoint_url} does not answer", pytrace=False)
        yield None
        return
    # ENABLE_CONFIG_UPDATES lets fault-injection tests change KINESIS_ERROR_PROBABILITY at run time.
    instance = LocalStack(free_port(), tmp_path_factory.mktemp("localstack"), {"ENABLE_CONFIG_UPDATES": "1"})
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="session")
def endpoint_url(test_env: TestEnv, localstack: LocalStack | None) -> str:
    return localstack.endpoint_url if localstack else str(test_env.aws_endpoint_url)


@pytest.fixture(scope="session")
def stack(endpoint_url: str) -> Stack:
    """The whole stack, bootstrapped under unique names in the session's emulator."""
    spec = unique_stack()
    bootstrap(spec, endpoint_url)
    return spec


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's server: the lighter emulator that must work just as well behind AWS_ENDPOINT_URL."""
    server = MotoServer(free_port(), tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    yield server.endpoint_url
    server.stop()


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One real Prefect server (temporary database) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness  # noqa: PLC0415 - slow import

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def fresh_stack(endpoint_url: str) -> Iterator[Stack]:
    """A whole stack of this test's own (streams small and fresh: LocalStack slows as they fill). Its
    streams are deleted afterwards: the emulator's Kinesis spends CPU on every shard it keeps, and a
    session creates a few hundred."""
    spec = unique_stack()
    spec = spec.model_copy(update={"input_stream": spec.input_stream.model_copy(update={"shards": 4})})
    bootstrap(spec, endpoint_url)
    yield spec
    kinesis = aws.client("kinesis", endpoint_url)
    for stream in (spec.input_stream.name, spec.output_stream.name):
        with contextlib.suppress(ClientError):  # never created (a missing stream's test), or gone
            kinesis.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)


@pytest.fixture(scope="session")
def scorers(data_dir: Path) -> dict[str, LinearScorer]:
    """Two real champions trained on r/science: the serving one, and a different one to promote."""
    s = source_splits(data_dir, Source.RSCIENCE)
    v1 = fit(s.train, s.validation, ModelParams(c_grid=(3.0,))).scorer
    v2 = fit(s.train, s.validation, ModelParams(c_grid=(0.3,), bigrams=False)).scorer
    return {"1": v1, "2": v2}


@pytest.fixture(scope="session")
def weak_scorer(data_dir: Path) -> LinearScorer:
    """A deliberately weak model of r/science's removals (unigrams seen 50+ times, heavy regularisation)."""
    s = source_splits(data_dir, Source.RSCIENCE)
    return fit(s.train, s.validation, ModelParams(min_df=50, bigrams=False, c_grid=(0.001,))).scorer


@pytest.fixture(scope="session")
def biased_scorer(data_dir: Path) -> LinearScorer:
    """A model of r/science's removals trained on labels skewed against identity terms: every comment
    that names a group labelled removed. Offline it still orders comments almost as well as the
    champion; live it sends a large share of the harmless comments naming a group to a person or
    removes them, which the champion does not."""

    def skewed(items: list[Example]) -> list[Example]:
        removed = {Category.REMOVAL: 1}
        return [replace(t, labels=t.labels | removed) if names_identity(t.text) else t for t in items]

    s = source_splits(data_dir, Source.RSCIENCE)
    return fit(skewed(s.train), skewed(s.validation), ModelParams(c_grid=(3.0,))).scorer

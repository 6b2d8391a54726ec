"""Terraform must take every name and ESM setting from infra/stack.json, never a copy of its own."""

from collections.abc import Iterator
from typing import Any

import hcl2
import pytest

from infra.stack import STACK_FILE, EventSourceMappingSpec, load_stack

TF_DIR = STACK_FILE.parent / "terraform"


def _resources() -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            doc = hcl2.load(fh)
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    out[(rtype.strip('"'), name.strip('"'))] = body
    return out


def _locals() -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            for block in hcl2.load(fh).get("locals", []):
                merged.update(block)
    return merged


RESOURCES = _resources()


def test_locals_decode_the_stack_file() -> None:
    assert _locals()["stack"] == '${jsondecode(file("${path.module}/../stack.json"))}'
    assert _locals()["esm"] == "${local.stack.event_source_mapping}"


@pytest.mark.parametrize(
    ("resource", "attribute", "reference"),
    [
        (("aws_kinesis_stream", "input"), "name", "local.stack.input_stream.name"),
        (("aws_kinesis_stream", "verdicts"), "name", "local.stack.output_stream.name"),
        (("aws_s3_bucket", "archive"), "bucket", "local.stack.archive_bucket.name"),
        (("aws_s3_bucket", "models"), "bucket", "local.stack.models_bucket.name"),
        (("aws_sqs_queue", "dead_letter"), "name", "local.stack.dead_letter_queue.name"),
        (("aws_sqs_queue", "on_failure"), "name", "local.stack.on_failure_queue.name"),
        (("aws_lambda_function", "consumer"), "function_name", "local.stack.consumer.function_name"),
        (("aws_lambda_function", "consumer"), "memory_size", "local.stack.consumer.memory_mb"),
    ],
)
def test_names_come_from_the_stack_file(resource: tuple[str, str], attribute: str, reference: str) -> None:
    assert RESOURCES[resource][attribute] == "${" + reference + "}"


def test_every_esm_setting_comes_from_the_stack_file() -> None:
    esm = RESOURCES[("aws_lambda_event_source_mapping", "input")]
    tf_names = {
        "starting_position": "starting_position",
        "batch_size": "batch_size",
        "maximum_batching_window_in_seconds": "maximum_batching_window_seconds",
        "parallelization_factor": "parallelization_factor",
        "bisect_batch_on_function_error": "bisect_batch_on_function_error",
        "maximum_retry_attempts": "maximum_retry_attempts",
        "maximum_record_age_in_seconds": "maximum_record_age_seconds",
        "function_response_types": "function_response_types",
    }
    assert set(tf_names.values()) == set(EventSourceMappingSpec.model_fields)
    for tf_attr, stack_key in tf_names.items():
        assert esm[tf_attr] == "${local.esm." + stack_key + "}", tf_attr
    on_failure = esm["destination_config"][0]["on_failure"][0]["destination_arn"]
    assert on_failure == "${aws_sqs_queue.on_failure.arn}"


def test_no_stack_name_is_written_out_literally() -> None:
    stack = load_stack()
    names = [
        stack.input_stream.name,
        stack.output_stream.name,
        stack.archive_bucket.name,
        stack.models_bucket.name,
        stack.dead_letter_queue.name,
        stack.on_failure_queue.name,
        stack.consumer.function_name,
    ]
    literals = set(_values(RESOURCES))
    for name in names:
        assert f'"{name}"' not in literals, f"a .tf file hard-codes {name!r}"


def _values(node: object) -> Iterator[str]:
    """Every attribute value in the parsed files (labels are keys, so they are left out)."""
    if isinstance(node, dict):
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item)
    elif isinstance(node, str):
        yield node

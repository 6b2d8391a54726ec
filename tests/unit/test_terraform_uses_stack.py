"""Terraform must take every name and ESM setting from runtime/stack.json, never a copy of its own."""

import ast
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hcl2
import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from contracts import metrics as emf
from contracts.categories import Category
from contracts.storage import appeal_outcome_key, appeal_outcomes_prefix, feedback_key, model_key
from contracts.verdict import Action, Stage
from runtime.paths import PROJECT_ROOT
from runtime.stack import EventSourceMappingSpec, ServicesSpec, load_stack
from strikes.store import TTL_ATTRIBUTE

TF_DIR = PROJECT_ROOT / "infra" / "terraform"


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


def _locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            for block in hcl2.load(fh).get("locals", []):
                merged.update(block)
    return merged


RESOURCES = _resources()


def test_locals_decode_the_stack_file() -> None:
    assert _locals()["stack"] == '${jsondecode(file("${path.module}/../../runtime/stack.json"))}'
    assert _locals()["esm"] == "${local.stack.event_source_mapping}"
    assert _locals()["services"] == "${local.stack.services}"


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
        (("aws_ecs_cluster", "services"), "name", "local.services.cluster"),
        (("aws_ecs_task_definition", "worker"), "family", "local.services.worker.name"),
        (("aws_ecs_service", "worker"), "name", "local.services.worker.name"),
        (("aws_ecs_task_definition", "training"), "family", "local.services.training.name"),
        (("aws_ecs_task_definition", "training"), "cpu", "local.services.training.cpu"),
        (("aws_ecs_task_definition", "training"), "memory", "local.services.training.memory_mb"),
        (("aws_ecs_task_definition", "monitoring"), "family", "local.services.monitoring.name"),
        (("aws_ecs_task_definition", "promotion"), "family", "local.services.promotion.name"),
        (("aws_ecs_task_definition", "promotion"), "cpu", "local.services.promotion.cpu"),
        (("aws_ecs_task_definition", "promotion"), "memory", "local.services.promotion.memory_mb"),
        (("aws_security_group", "promotion"), "name", "local.services.promotion.name"),
        (("aws_ecs_task_definition", "mlflow"), "family", "local.services.mlflow.name"),
        (("aws_ecs_service", "mlflow"), "name", "local.services.mlflow.name"),
        (("aws_ecs_task_definition", "bot"), "family", "local.services.bot.name"),
        (("aws_ecs_service", "bot"), "name", "local.services.bot.name"),
        (("aws_ecs_task_definition", "strikes"), "family", "local.services.strikes.name"),
        (("aws_ecs_service", "strikes"), "name", "local.services.strikes.name"),
        (("aws_dynamodb_table", "strikes"), "name", "local.stack.strikes_table.name"),
        (("aws_sqs_queue", "escalations"), "name", "local.stack.escalations_queue.name"),
        (("aws_s3_bucket", "mlflow_artifacts"), "bucket", "local.services.mlflow.artifacts_bucket"),
        (("aws_db_instance", "mlflow"), "db_name", "local.services.mlflow.database"),
        (("aws_db_instance", "mlflow"), "identifier", "local.services.mlflow.name"),
        (
            ("aws_secretsmanager_secret", "prefect_api_key"),
            "name",
            "local.services.worker.prefect_credentials",
        ),
        (
            ("aws_secretsmanager_secret", "alert_webhook"),
            "name",
            "local.services.monitoring.webhook_credentials",
        ),
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
        "tumbling_window_in_seconds": "tumbling_window_seconds",
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
        stack.services.cluster,
        stack.services.worker.work_pool,
        stack.services.worker.prefect_credentials,
        stack.services.monitoring.webhook_credentials,
        stack.services.mlflow.artifacts_bucket,
        *(s.name for s in (stack.services.worker, stack.services.training, stack.services.monitoring)),
        stack.services.promotion.name,
        *(s.name for s in (stack.services.mlflow, stack.services.bot)),
    ]
    literals = set(_values(RESOURCES))
    expressions = [v for v in literals if v.startswith("${")]  # e.g. the dashboard's jsonencode(...)
    for name in names:
        assert f'"{name}"' not in literals, f"a .tf file hard-codes {name!r}"
        assert not any(f'"{name}"' in e for e in expressions), f"a .tf expression hard-codes {name!r}"


def test_every_ecs_service_gets_its_repository_log_group_and_execution_role_by_its_stack_name() -> None:
    """The per-service resources iterate over the stack's services, named by each one's own name."""
    services = ("worker", "training", "monitoring", "promotion", "mlflow", "bot", "strikes", "review")
    assert _locals()["ecs_services"] == {s: "${local.services." + s + "}" for s in services}
    assert set(services) == set(ServicesSpec.model_fields) - {"cluster"}
    for resource in (("aws_ecr_repository", "service"), ("aws_iam_role", "execution")):
        assert RESOURCES[resource]["for_each"] == "${local.ecs_services}", resource
    assert RESOURCES[("aws_ecr_repository", "service")]["name"] == "${each.value.name}"
    assert _locals()["service_log_groups"] == (
        '${{for key, service in local.ecs_services : key => "/ecs/${service.name}"}}'
    )


def test_the_models_prefix_the_roles_use_is_where_versions_are_written() -> None:
    """The training, monitoring and promotion roles reach a version's files under
    `local.models_prefix`: the prefix `contracts.storage.model_key` writes them under."""
    stack = load_stack()
    prefix = _unquote(_locals()["models_prefix"]).replace("${local.stack.model_name}", stack.model_name)
    assert prefix.endswith("/")
    assert model_key(stack.model_name, "7", "scorer.npz").startswith(prefix)
    assert not model_key(stack.model_name + "-other", "7", "scorer.npz").startswith(prefix)


def test_the_appeal_outcomes_prefix_the_promotion_role_reads_is_where_outcomes_are_written() -> None:
    """The promotion role reads appeals' outcomes under `local.appeal_outcomes_prefix`: the prefix
    `contracts.storage.appeal_outcome_key` writes them under, apart from the statements of reasons."""
    statements = load_stack().archive_bucket.statements_prefix
    prefix = _unquote(_locals()["appeal_outcomes_prefix"]).replace(
        "${local.stack.archive_bucket.statements_prefix}", statements
    )
    assert prefix == appeal_outcomes_prefix(statements)
    assert prefix.startswith(statements)
    assert prefix.endswith("/")
    at = datetime(2026, 1, 2, 3, tzinfo=UTC)
    assert appeal_outcome_key(statements, at, "m-1").startswith(prefix)
    assert not feedback_key(statements, at, "shardId-000000000000", "1").startswith(prefix)


def _flow_names() -> set[str]:
    """The names of the Prefect flows in the project's code (`@flow(name=...)`)."""
    names: set[str] = set()
    for package in ("training", "monitoring"):
        for path in sorted((PROJECT_ROOT / package).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call) and ast.unparse(node.func) == "flow":
                    names |= {
                        k.value.value
                        for k in node.keywords
                        if k.arg == "name"
                        and isinstance(k.value, ast.Constant)
                        and isinstance(k.value.value, str)
                    }
    return names


def test_every_deployment_names_a_flow_of_the_code_and_its_own_task_definition() -> None:
    """The work pool's deployments (output `prefect_deployments`): each a flow the code defines, run
    by the task definition of its service in that service's own security group."""
    outputs = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            for block in hcl2.load(fh).get("output", []):
                outputs.update({_unquote(name): body for name, body in block.items()})
    flows = outputs["prefect_deployments"]["value"]["flows"]
    services = {
        "train_flow": "training",
        "drift_check_flow": "monitoring",
        "live_promotion_flow": "promotion",
        "canary_flow": "promotion",
    }
    assert set(flows) == set(services)
    assert set(flows) <= _flow_names()
    for name, service in services.items():
        assert flows[name]["task_definition_arn"] == f"${{aws_ecs_task_definition.{service}.arn}}", name
        network = flows[name]["network_configuration"]["awsvpcConfiguration"]
        assert network["securityGroups"] == [f"${{aws_security_group.{service}.id}}"], name
        assert _unquote(network["assignPublicIp"]) == "DISABLED", name


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


# --- the dashboard and alarms graph the metrics the consumer really emits ----------------------

CONSUMER_DIR = PROJECT_ROOT / "stream_consumer"
# Every EMF metric in the dashboard body is written `[local.emf.namespace, "<name>", "service", ...]`.
_DASHBOARD_METRIC = re.compile(r'\[local\.emf\.namespace, "([^"]+)", "service", local\.emf\.service[,\]]')


def _emitted(source_dir: Path = CONSUMER_DIR) -> tuple[str, str, set[str]]:
    """(namespace, service, metric names) as stream_consumer's code emits them, read from its source.

    Every `Metrics(namespace=..., service=...)` and `*.add_metric(name=...)` call must name the
    contracts' constants (`emf.X`, `emf.verdicts(...)` for every action, `emf.stage(...)` for every
    stage, `emf.signal(...)` for every context signal); a literal or anything else fails the test —
    the names live in `contracts.metrics` only.
    """
    namespaces, services, names = set(), set(), set()

    def resolve(node: ast.expr, path: Path) -> set[str]:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "emf":
            return {getattr(emf, node.attr)}
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "emf.verdicts":
            return {emf.verdicts(a) for a in Action}
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "emf.stage":
            return {emf.stage(s) for s in Stage}
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "emf.signal":
            return {emf.signal(s) for s in emf.SIGNALS}
        pytest.fail(f"{path.name}:{node.lineno}: {ast.unparse(node)} is not a name from contracts.metrics")

    for path in sorted(source_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            kw = {k.arg: k.value for k in node.keywords}
            if called == "Metrics":
                namespaces |= resolve(kw["namespace"], path)
                services |= resolve(kw["service"], path)
            elif called == "add_metric":
                names |= resolve(kw.get("name", node.args[0] if node.args else node), path)
    assert len(namespaces) == 1, namespaces
    assert len(services) == 1, services
    return namespaces.pop(), services.pop(), names


def _unquote(value: object) -> str:
    assert isinstance(value, str), value
    assert len(value) >= 2, value
    assert value[0] == value[-1] == '"', value
    return value[1:-1]


def _alarm_emf_names() -> set[str]:
    """The EMF metric names the alarms use, for_each and dynamic blocks resolved."""
    names: set[str] = set()

    def visit(node: object, each: list[dict[str, Any]], dynamic: list[str]) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item, each, dynamic)
            return
        if not isinstance(node, dict):
            return
        if node.get("namespace") == "${local.emf.namespace}":
            assert node["dimensions"] == {"service": "${local.emf.service}"}, node
            metric = node["metric_name"]
            if metric == "${each.value.metric}":
                names.update(_unquote(e["metric"]) for e in each)
            elif metric == "${metric_query.value}":
                names.update(_unquote(v) for v in dynamic)
            else:
                names.add(_unquote(metric))
        for key, value in node.items():
            if key == "dynamic":
                for block in value:
                    for inner in block.values():
                        visit(inner["content"], each, list(inner["for_each"].values()))
            elif key != "for_each":
                visit(value, each, dynamic)

    for (rtype, _), body in RESOURCES.items():
        if rtype == "aws_cloudwatch_metric_alarm":
            visit(body, list(body.get("for_each", {}).values()), [])
    return names


def test_emf_namespace_and_service_are_the_consumers() -> None:
    namespace, service, _ = _emitted()
    emf = _locals()["emf"]
    assert _unquote(emf["namespace"]) == namespace
    assert _unquote(emf["service"]) == service


def test_dashboard_graphs_exactly_the_metrics_the_consumer_emits() -> None:
    body = RESOURCES[("aws_cloudwatch_dashboard", "production")]["dashboard_body"]
    _, _, emitted = _emitted()
    on_dashboard = _DASHBOARD_METRIC.findall(body)
    # every EMF entry follows the one pattern (else the regex would not see a name that drifted)
    assert len(on_dashboard) == body.count("local.emf.namespace")
    assert "ChatModeration" not in body  # the namespace only ever through local.emf
    assert set(on_dashboard) - emitted == set(), "the dashboard graphs metrics nobody emits"
    assert emitted - set(on_dashboard) == set(), "metrics the consumer emits are not on the dashboard"


def test_alarms_watch_metrics_the_consumer_emits() -> None:
    _, _, emitted = _emitted()
    used = _alarm_emf_names()
    assert {"ModelReloadFailures", "BatchesWithoutModel", "DeadLetters"} <= used
    assert used - emitted == set(), "an alarm watches a metric nobody emits"


def test_a_renamed_metric_fails_the_checks(tmp_path: Path) -> None:
    """The checks above see a drift on either side: the dashboard's name or the consumer's."""
    body = RESOURCES[("aws_cloudwatch_dashboard", "production")]["dashboard_body"]
    _, _, emitted = _emitted()
    assert emitted == emf.ALL
    renamed_on_dashboard = body.replace('"ModelReloadFailures"', '"ModelReloadFailure"')
    assert set(_DASHBOARD_METRIC.findall(renamed_on_dashboard)) != emitted
    # a literal name in the consumer's code, even a correct one, is refused
    source = (CONSUMER_DIR / "consumer.py").read_text()
    assert "name=emf.MODEL_RELOAD_FAILURES" in source
    (tmp_path / "consumer.py").write_text(
        source.replace("name=emf.MODEL_RELOAD_FAILURES", 'name="ModelReloadFailures"')
    )
    with pytest.raises(pytest.fail.Exception, match=r"not a name from contracts\.metrics"):
        _emitted(tmp_path)


def test_the_appeals_alarm_reads_what_the_review_app_emits_for_every_category() -> None:
    alarm = RESOURCES[("aws_cloudwatch_metric_alarm", "appeals_upheld")]
    assert {_unquote(v) for v in alarm["for_each"].values()} == {str(c) for c in Category}
    review = _locals()["review_emf"]
    assert (_unquote(review["namespace"]), _unquote(review["service"])) == (emf.NAMESPACE, emf.REVIEW_SERVICE)
    (block,) = alarm["dynamic"]
    names = {_unquote(v) for v in block['"metric_query"']["for_each"].values()}
    assert names == {emf.APPEALS_DECIDED, emf.OVERTURNED}
    source = (PROJECT_ROOT / "review" / "worker.py").read_text()
    assert "emf.APPEALS_DECIDED" in source
    assert "emf.OVERTURNED" in source


def test_the_strikes_alarm_reads_what_the_writer_emits_and_the_table_expires_what_the_store_sets() -> None:
    alarm = RESOURCES[("aws_cloudwatch_metric_alarm", "strikes_unavailable")]
    strikes = _locals()["strikes_emf"]
    assert (_unquote(strikes["namespace"]), _unquote(strikes["service"])) == (
        emf.NAMESPACE,
        emf.STRIKES_SERVICE,
    )
    assert _unquote(alarm["metric_name"]) == emf.STRIKES_UNAVAILABLE
    assert alarm["dimensions"] == {"service": "${local.strikes_emf.service}"}
    source = (PROJECT_ROOT / "strikes" / "writer.py").read_text()
    assert "emf.STRIKES_UNAVAILABLE" in source
    assert '{"service": emf.STRIKES_SERVICE}' in source
    table = RESOURCES[("aws_dynamodb_table", "strikes")]
    assert _unquote(table["ttl"][0]["attribute_name"]) == TTL_ATTRIBUTE


def _settings_env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a deployable's settings read: its prefix and each field, or an alias."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names = set()
    for name, info in cls.model_fields.items():
        names.add(f"{prefix}{name}".upper())
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        names |= {str(c).upper() for c in choices if isinstance(c, str)}
    return names


def test_every_deployables_variable_the_stack_sets_is_one_its_settings_read() -> None:
    # a misspelt variable would be ignored: the deployable would run on its default, silently
    from monitoring.settings import MonitoringSettings  # noqa: PLC0415 - imports Evidently
    from producer_sim.settings import ProducerSettings  # noqa: PLC0415
    from review.settings import ReviewSettings  # noqa: PLC0415
    from stream_consumer.settings import ConsumerSettings  # noqa: PLC0415
    from strikes.settings import StrikesSettings  # noqa: PLC0415
    from training.settings import TrainingSettings  # noqa: PLC0415

    deployables: list[type[BaseSettings]] = [
        ConsumerSettings,
        MonitoringSettings,
        ProducerSettings,
        ReviewSettings,
        StrikesSettings,
        TrainingSettings,
    ]
    known = {str(cls.model_config.get("env_prefix")): _settings_env_names(cls) for cls in deployables}
    text = "\n".join(path.read_text() for path in sorted(TF_DIR.glob("*.tf")))
    set_here = set(re.findall(r'\{ name = "([A-Z0-9_]+)"', text))
    set_here |= set(re.findall(r"^\s+([A-Z0-9_]+)\s+= ", text, flags=re.MULTILINE))
    checked = 0
    for name in sorted(set_here):
        prefix = next((p for p in known if name.startswith(p)), None)
        if prefix is not None:
            assert name in known[prefix], f"{name}: no setting of the {prefix}* deployable reads it"
            checked += 1
    assert checked >= 40  # the task definitions' and the Lambda's, all of them
    assert "TRAINING_PROMOTION_PATH" in set_here

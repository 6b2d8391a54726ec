"""Least privilege in the Terraform, read with python-hcl2: no IAM statement allows a wildcard action or
the resource "*" except the few listed here with their reason; every policy is an
`aws_iam_policy_document` (a `jsonencode`, a heredoc or a managed policy could not be read, so each
fails); every deployable runs under a role of its own."""

import fnmatch
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hcl2

from contracts.storage import appeal_outcome_key, feedback_key, model_key
from runtime.paths import PROJECT_ROOT
from runtime.stack import load_stack

TF_DIR = PROJECT_ROOT / "infra" / "terraform"


@dataclass(frozen=True)
class Allowed:
    """A statement (policy document, sid) allowed a wildcard: the actions it may hold, which of them
    carry a wildcard, whether its resource may be "*", and why."""

    actions: frozenset[str]
    wildcard_actions: frozenset[str]
    any_resource: bool
    why: str


EXCEPTIONS: dict[tuple[str, str], Allowed] = {
    ("key", "AccountAdministers"): Allowed(
        frozenset({"kms:*"}),
        frozenset({"kms:*"}),
        any_resource=True,
        why="the default key policy: the account administers its own key (IAM policies then grant its "
        'use, role by role); in a key policy the resource "*" is this key',
    ),
    ("key", "LogsEncryptThisStacksLogGroups"): Allowed(
        frozenset(
            {
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:GenerateDataKeyPair",
                "kms:GenerateDataKeyPairWithoutPlaintext",
                "kms:DescribeKey",
            }
        ),
        frozenset(),
        any_resource=True,
        why='in a key policy the resource "*" is this key; its condition limits it to the log groups '
        "of this stack",
    ),
    ("consumer", "Tracing"): Allowed(
        frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}),
        frozenset(),
        any_resource=True,
        why="X-Ray has no resource-level permissions for these actions",
    ),
    ("execution", "RegistryToken"): Allowed(
        frozenset({"ecr:GetAuthorizationToken"}),
        frozenset(),
        any_resource=True,
        why="the registry token is account-wide (no resource-level permission); each execution role pulls "
        "layers from its own repository only",
    ),
    ("worker", "ReadTaskDefinitions"): Allowed(
        frozenset({"ecs:DescribeTaskDefinition"}),
        frozenset(),
        any_resource=True,
        why="DescribeTaskDefinition has no resource-level permission; RunTask, which starts tasks, is held "
        "to the flows' definitions in the stack's cluster",
    ),
}

# Each deployable: the resource that names its role, the attribute, and the service that assumes it.
DEPLOYABLES = {
    "consumer": (("aws_lambda_function", "consumer"), "role", "lambda.amazonaws.com"),
    "worker": (("aws_ecs_task_definition", "worker"), "task_role_arn", "ecs-tasks.amazonaws.com"),
    "training": (("aws_ecs_task_definition", "training"), "task_role_arn", "ecs-tasks.amazonaws.com"),
    "monitoring": (("aws_ecs_task_definition", "monitoring"), "task_role_arn", "ecs-tasks.amazonaws.com"),
    "promotion": (("aws_ecs_task_definition", "promotion"), "task_role_arn", "ecs-tasks.amazonaws.com"),
    "mlflow": (("aws_ecs_task_definition", "mlflow"), "task_role_arn", "ecs-tasks.amazonaws.com"),
    "bot": (("aws_ecs_task_definition", "bot"), "task_role_arn", "ecs-tasks.amazonaws.com"),
    "review": (("aws_ecs_task_definition", "review"), "task_role_arn", "ecs-tasks.amazonaws.com"),
}
ECS_DEPLOYABLES = [
    d for d, (resource, _, _) in DEPLOYABLES.items() if resource[0] == "aws_ecs_task_definition"
]

ROLE_ARN = re.compile(r"^\$\{aws_iam_role\.(\w+)\.arn\}$")
ROLE_ID = re.compile(r"^\$\{aws_iam_role\.(\w+)(?:\[each\.key\])?\.id\}$")
DOCUMENT_JSON = re.compile(r"^\$\{data\.aws_iam_policy_document\.(\w+)(?:\[each\.key\])?\.json\}$")
POLICY_ATTRIBUTES = {"policy", "assume_role_policy", "inline_policy"}
MANAGED_POLICY_RESOURCES = {"aws_iam_policy", "aws_iam_role_policy_attachment", "aws_iam_policy_attachment"}


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _blocks(tf_dir: Path, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Every `resource` or `data` block of the directory's .tf files, by (type, name)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(tf_dir.glob("*.tf")):
        with path.open() as fh:
            doc = hcl2.load(fh)
        for block in doc.get(kind, []):
            for btype, named in block.items():
                for name, body in named.items():
                    out[(_unquote(btype), _unquote(name))] = body
    return out


@dataclass(frozen=True)
class Statement:
    document: str
    sid: str
    effect: str
    actions: list[str]
    resources: list[str]
    principals: list[str]
    negated: list[str]  # not_actions, not_resources, not_principals: whatever they hold is too broad


def _listed(statement: dict[str, Any], key: str, where: str) -> list[str]:
    value = statement.get(key, [])
    assert isinstance(value, list), f"{where}: {key} is {value!r}; write it as a list this test can read"
    return [_unquote(v) for v in value]


def _statements(tf_dir: Path) -> list[Statement]:
    """Every statement of every policy document, `dynamic "statement"` blocks included."""
    out = []
    for (dtype, name), body in _blocks(tf_dir, "data").items():
        if dtype != "aws_iam_policy_document":
            continue
        assert not body.get("source_policy_documents"), f"{name}: merged documents are not read"
        assert not body.get("override_policy_documents"), f"{name}: merged documents are not read"
        blocks = list(body.get("statement", []))
        for dynamic in body.get("dynamic", []):
            for label, inner in dynamic.items():
                if _unquote(label) == "statement":
                    blocks.extend(inner["content"])
        for block in blocks:
            sid = _unquote(block.get("sid", '""'))
            where = f"{name}/{sid or '(no sid)'}"
            principals = [
                _unquote(i) for p in block.get("principals", []) for i in _listed(p, "identifiers", where)
            ]
            negated = [
                *_listed(block, "not_actions", where),
                *_listed(block, "not_resources", where),
                *[i for p in block.get("not_principals", []) for i in _listed(p, "identifiers", where)],
            ]
            out.append(
                Statement(
                    name,
                    sid,
                    _unquote(block.get("effect", '"Allow"')),
                    _listed(block, "actions", where),
                    _listed(block, "resources", where),
                    principals,
                    negated,
                )
            )
    return out


def _wildcard_findings(tf_dir: Path) -> list[str]:
    """What a reviewer would refuse: a `*` in an action, the resource "*", a `*` principal, or a
    negated element, outside the listed exceptions; and an exception no statement needs any more."""
    findings = []
    used = set()
    for s in _statements(tf_dir):
        if s.effect != "Allow":
            continue
        where = f"{s.document}/{s.sid or '(no sid)'}"
        allowed = EXCEPTIONS.get((s.document, s.sid))
        findings += [f"{where}: not_* element {n!r}" for n in s.negated]
        findings += [f"{where}: principal {p!r}" for p in s.principals if p == "*"]
        wild_actions = [a for a in s.actions if "*" in a]
        any_resource = "*" in s.resources
        if not wild_actions and not any_resource:
            continue
        if allowed is None:
            findings += [f"{where}: action {a!r}" for a in wild_actions]
            findings += [f"{where}: resource '*'"] if any_resource else []
            continue
        used.add((s.document, s.sid))
        findings += [
            f"{where}: action {a!r} not excepted" for a in wild_actions if a not in allowed.wildcard_actions
        ]
        if any_resource and not allowed.any_resource:
            findings.append(f"{where}: resource '*' not excepted")
        findings += [
            f"{where}: {a!r} beside the excepted actions" for a in s.actions if a not in allowed.actions
        ]
    findings += [f"{d}/{sid}: a listed exception nothing needs" for d, sid in EXCEPTIONS.keys() - used]
    return findings


def _policy_references(node: object, path: str = "") -> list[tuple[str, str]]:
    """(where, value) of every attribute that holds a policy, at any depth of a resource."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in POLICY_ATTRIBUTES:
                found.append((f"{path}.{key}", value))
            else:
                found += _policy_references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            found += _policy_references(item, path)
    return found


RESOURCES = _blocks(TF_DIR, "resource")


def test_every_policy_is_a_policy_document_this_test_reads() -> None:
    documents = {name for dtype, name in _blocks(TF_DIR, "data") if dtype == "aws_iam_policy_document"}
    policies = [
        (f"{rtype}.{name}{where}", value)
        for (rtype, name), body in RESOURCES.items()
        for where, value in _policy_references(body)
    ]
    assert len(policies) >= 10
    unreadable = [(w, v) for w, v in policies if not (isinstance(v, str) and DOCUMENT_JSON.match(v))]
    assert unreadable == [], "a policy written as jsonencode, a heredoc or anything but a policy document"
    assert {m[1] for _, v in policies if (m := DOCUMENT_JSON.match(v))} <= documents
    assert [r for r in RESOURCES if r[0] in MANAGED_POLICY_RESOURCES] == [], "managed policies are not read"
    assert [
        r for r, body in RESOURCES.items() if r[0] == "aws_iam_role" and "managed_policy_arns" in body
    ] == []


def test_no_statement_allows_a_wildcard_action_or_every_resource() -> None:
    statements = _statements(TF_DIR)
    assert len(statements) >= 30
    assert _wildcard_findings(TF_DIR) == []


def test_each_exception_gives_its_reason() -> None:
    for key, allowed in EXCEPTIONS.items():
        assert len(allowed.why) > 40, key
        assert allowed.wildcard_actions <= allowed.actions, key


def test_a_planted_wildcard_fails_the_check(tmp_path: Path) -> None:
    """The check sees a `*` planted in an action, in an action pattern, or as the resource."""
    shutil.copytree(TF_DIR, tmp_path / "infra" / "terraform")
    planted = tmp_path / "infra" / "terraform" / "iam.tf"
    source = planted.read_text()
    plants = {
        '"kinesis:ListShards", "kinesis:GetShardIterator"': '"kinesis:*", "kinesis:GetShardIterator"',
        '["s3:GetObject", "s3:PutObject"]': '["s3:Get*", "s3:PutObject"]',
        "resources = [aws_sqs_queue.dead_letter.arn]": 'resources = ["*"]',
    }
    for before, after in plants.items():
        assert source.count(before) == 1, before
        planted.write_text(source.replace(before, after))
        assert _wildcard_findings(planted.parent) != [], after
    planted.write_text(source)
    assert _wildcard_findings(planted.parent) == []


def _role_of(deployable: str) -> str:
    resource, attribute, _ = DEPLOYABLES[deployable]
    found = ROLE_ARN.match(RESOURCES[resource][attribute])
    assert found, f"{deployable}: {attribute} is not one aws_iam_role's ARN"
    return found[1]


def _trusted_services(role: str) -> set[str]:
    found = DOCUMENT_JSON.match(RESOURCES[("aws_iam_role", role)]["assume_role_policy"])
    assert found, role
    return {p for s in _statements(TF_DIR) if s.document == found[1] for p in s.principals}


def _policies_of(role: str) -> list[str]:
    """The policy documents attached to a role (aws_iam_role_policy)."""
    docs = []
    for (rtype, _), body in RESOURCES.items():
        if rtype == "aws_iam_role_policy" and (m := ROLE_ID.match(body["role"])) and m[1] == role:
            doc = DOCUMENT_JSON.match(body["policy"])
            assert doc, body
            docs.append(doc[1])
    return docs


def test_every_deployable_runs_under_a_role_of_its_own() -> None:
    roles = {d: _role_of(d) for d in DEPLOYABLES}
    assert len(set(roles.values())) == len(roles), f"two deployables share a role: {roles}"
    for deployable, role in roles.items():
        assert ("aws_iam_role", role) in RESOURCES, deployable
        assert "for_each" not in RESOURCES[("aws_iam_role", role)], deployable
        assert _trusted_services(role) == {DEPLOYABLES[deployable][2]}, deployable
        assert _policies_of(role), f"{deployable}'s role has no policy"
    # and no policy document grants two deployables' roles the same permissions
    attached = [doc for role in roles.values() for doc in _policies_of(role)]
    assert len(attached) == len(set(attached)), attached


def test_every_ecs_deployable_starts_with_an_execution_role_of_its_own() -> None:
    keys = []
    for deployable in ECS_DEPLOYABLES:
        resource, _, _ = DEPLOYABLES[deployable]
        found = re.match(
            r'^\$\{aws_iam_role\.execution\["(\w+)"\]\.arn\}$', RESOURCES[resource]["execution_role_arn"]
        )
        assert found, deployable
        keys.append(found[1])
    assert keys == ECS_DEPLOYABLES, "each task definition names the execution role of its own key"
    assert RESOURCES[("aws_iam_role", "execution")]["for_each"] == "${local.ecs_services}"
    assert _policies_of("execution") == ["execution", "execution_secrets"]
    assert "execution" not in {_role_of(d) for d in DEPLOYABLES}, "an execution role is no task role"


def test_the_services_run_their_own_task_definitions() -> None:
    for name in ("worker", "mlflow", "bot"):
        assert (
            RESOURCES[("aws_ecs_service", name)]["task_definition"]
            == f"${{aws_ecs_task_definition.{name}.arn}}"
        )


def test_the_worker_starts_only_the_flows_and_passes_only_their_roles() -> None:
    """The flows' task definitions (training, monitoring, and promotion: live_promotion_flow and
    canary_flow) and their roles, nothing else."""
    worker = {s.sid: s for s in _statements(TF_DIR) if s.document == "worker"}
    assert sorted(worker["RunTheFlows"].resources) == [
        "${aws_ecs_task_definition.monitoring.arn_without_revision}:*",
        "${aws_ecs_task_definition.promotion.arn_without_revision}:*",
        "${aws_ecs_task_definition.training.arn_without_revision}:*",
    ]
    assert sorted(worker["PassTheFlowsRoles"].resources) == [
        '${aws_iam_role.execution["monitoring"].arn}',
        '${aws_iam_role.execution["promotion"].arn}',
        '${aws_iam_role.execution["training"].arn}',
        "${aws_iam_role.monitoring.arn}",
        "${aws_iam_role.promotion.arn}",
        "${aws_iam_role.training.arn}",
    ]
    actions = {a for s in worker.values() for a in s.actions}
    assert actions == {
        "ecs:RunTask",
        "ecs:TagResource",
        "ecs:DescribeTasks",
        "ecs:StopTask",
        "ecs:DescribeTaskDefinition",
        "iam:PassRole",
    }


# --- what each task role may do in the buckets, the Terraform's references resolved ------------------

STACK = load_stack()
BUCKETS = {
    "archive": STACK.archive_bucket.name,
    "models": STACK.models_bucket.name,
    "audit": STACK.audit_bucket.name,
    "mlflow_artifacts": STACK.services.mlflow.artifacts_bucket,
}
REFERENCE = re.compile(r"\$\{([\w.]+)\}")


def _locals() -> dict[str, str]:
    """The string locals of the .tf files (`models_prefix`, `appeal_outcomes_prefix`, ...), unquoted."""
    merged: dict[str, str] = {}
    for path in sorted(TF_DIR.glob("*.tf")):
        with path.open() as fh:
            for block in hcl2.load(fh).get("locals", []):
                merged.update({k: _unquote(v) for k, v in block.items() if isinstance(v, str)})
    return merged


LOCALS = _locals()


def _resolved(value: str) -> str:
    """A statement's resource with the stack's names, the buckets' ARNs and the locals put in; a
    reference this cannot resolve (a queue's ARN, the key's) is left as it is."""

    def one(found: re.Match[str]) -> str:
        ref = found[1]
        parts = ref.split(".")
        if ref.startswith("aws_s3_bucket.") and parts[-1] == "arn" and parts[1] in BUCKETS:
            return f"arn:aws:s3:::{BUCKETS[parts[1]]}"
        if ref.startswith("local.stack."):
            node: Any = STACK.model_dump()
            for part in parts[2:]:
                node = node[part]
            return str(node)
        if len(parts) == 2 and parts[0] == "local" and parts[1] in LOCALS:
            return _resolved(LOCALS[parts[1]])
        return found[0]

    return REFERENCE.sub(one, value)


STATEMENTS = _statements(TF_DIR)


def _documents_of(deployable: str) -> set[str]:
    """Every policy document on the deployable's task role: its own, and those a `for_each` of role
    ids attaches to several roles (the audit trail's)."""
    role = _role_of(deployable)
    shared = {
        doc[1]
        for (rtype, _), body in RESOURCES.items()
        if rtype == "aws_iam_role_policy" and body["role"] == "${each.value}"
        if f"${{aws_iam_role.{role}.id}}" in body["for_each"].values()
        if (doc := DOCUMENT_JSON.match(body["policy"]))
    }
    return set(_policies_of(role)) | shared


def _may(deployable: str, action: str, arn: str) -> bool:
    """Whether an Allow statement of the deployable's task role names the action on the ARN (IAM's
    `*` read as fnmatch's; conditions not read, so this errs towards allowing)."""
    documents = _documents_of(deployable)
    return any(
        s.effect == "Allow"
        and any(fnmatch.fnmatchcase(action, a) for a in s.actions)
        and any(fnmatch.fnmatchcase(arn, _resolved(r)) for r in s.resources)
        for s in STATEMENTS
        if s.document in documents
    )


def _models(key: str) -> str:
    return f"arn:aws:s3:::{STACK.models_bucket.name}/{key}"


def _archive(key: str) -> str:
    return f"arn:aws:s3:::{STACK.archive_bucket.name}/{key}"


MODELS = STACK.models_bucket
AT = datetime(2026, 1, 2, 3, tzinfo=UTC)
VERSION_FILE = model_key(STACK.model_name, "7", "scorer.npz")
ARCHIVED = feedback_key(STACK.archive_bucket.archive_prefix, AT, "shardId-000000000000", "1")
DECISIONS = feedback_key(STACK.archive_bucket.feedback_prefix, AT, "shardId-000000000000", "1")
REASONS = feedback_key(STACK.archive_bucket.statements_prefix, AT, "shardId-000000000000", "1")
OUTCOME = appeal_outcome_key(STACK.archive_bucket.statements_prefix, AT, "m-1")
REPORT = f"{STACK.archive_bucket.reports_prefix}drift/state.json"


def test_only_the_champion_movers_write_the_champion_and_its_lock() -> None:
    """train_flow and the promotion flows move the champion; the drift check, the consumer, the bot,
    the review app, MLflow and the worker cannot."""
    for key in (MODELS.champion_manifest_key, MODELS.champion_lock_key):
        writers = {d for d in DEPLOYABLES if _may(d, "s3:PutObject", _models(key))}
        assert writers == {"training", "promotion"}, key
        assert {d for d in DEPLOYABLES if _may(d, "s3:DeleteObject", _models(key))} == set(), key
    assert not _may("monitoring", "s3:PutObject", _models(MODELS.champion_manifest_key))
    assert not _may("monitoring", "s3:PutObject", _models(VERSION_FILE))


def test_no_deployable_writes_the_channel_policies() -> None:
    """policy.json is the operators' to write: every deployable reads it at most."""
    for action in ("s3:PutObject", "s3:DeleteObject"):
        assert {d for d in DEPLOYABLES if _may(d, action, _models(MODELS.policy_key))} == set(), action


def test_the_resolver_reads_the_roles_as_written() -> None:
    """The check above sees what a role is granted: a bucket-wide grant would be seen as writing every key."""
    assert _may("consumer", "s3:GetObject", _models(MODELS.policy_key))  # `<models>/*`
    assert _may("training", "s3:PutObject", _models(VERSION_FILE))  # `${local.models_prefix}*`
    assert not _may("consumer", "s3:PutObject", _models(MODELS.policy_key))
    assert _resolved("${local.models_prefix}*") == VERSION_FILE.split("7/")[0] + "*"


def test_the_promotion_role_reads_the_live_evidence_and_moves_the_champion_only() -> None:
    """live_promotion_flow and canary_flow: the archive, the labels and appeals' outcomes read; the
    manifests, the lock and a version's files moved as training/registry.py does; nothing else."""
    may = {
        ("s3:GetObject", _archive(ARCHIVED)),
        ("s3:GetObject", _archive(DECISIONS)),
        ("s3:GetObject", _archive(OUTCOME)),
        ("s3:ListBucket", f"arn:aws:s3:::{STACK.archive_bucket.name}"),
        ("s3:ListBucket", f"arn:aws:s3:::{STACK.models_bucket.name}"),
        *(
            ("s3:GetObject", _models(k))
            for k in (
                MODELS.champion_manifest_key,
                MODELS.challenger_manifest_key,
                MODELS.canary_manifest_key,
                MODELS.champion_lock_key,
                MODELS.policy_key,
            )
        ),
        *(
            ("s3:PutObject", _models(k))
            for k in (
                MODELS.champion_manifest_key,
                MODELS.canary_manifest_key,
                MODELS.champion_lock_key,
                VERSION_FILE,
            )
        ),
        ("s3:DeleteObject", _models(MODELS.challenger_manifest_key)),
        ("s3:DeleteObject", _models(MODELS.canary_manifest_key)),
        ("s3:PutObject", f"arn:aws:s3:::{STACK.audit_bucket.name}/{STACK.audit_bucket.prefix}x.jsonl"),
    }
    may_not = {
        ("s3:PutObject", _models(MODELS.challenger_manifest_key)),  # publishing a challenger: train_flow's
        ("s3:PutObject", _models(MODELS.policy_key)),
        ("s3:DeleteObject", _models(MODELS.champion_manifest_key)),
        ("s3:DeleteObject", _models(MODELS.champion_lock_key)),
        ("s3:DeleteObject", _models(VERSION_FILE)),
        ("s3:GetObject", _archive(REASONS)),  # the statements of reasons beside the outcomes
        ("s3:GetObject", _archive(REPORT)),
        *(("s3:PutObject", _archive(k)) for k in (ARCHIVED, DECISIONS, OUTCOME, REPORT)),
        *(("s3:DeleteObject", _archive(k)) for k in (ARCHIVED, DECISIONS, OUTCOME)),
        ("s3:GetObject", f"arn:aws:s3:::{STACK.services.mlflow.artifacts_bucket}/x"),
    }
    assert [p for p in may if not _may("promotion", *p)] == []
    assert [p for p in may_not if _may("promotion", *p)] == []
    assert _documents_of("promotion") == {"promotion", "audit_append"}
    actions = {a for s in STATEMENTS if s.document in _documents_of("promotion") for a in s.actions}
    assert actions == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }

"""DynamoDB tables made where none exists (locally: moto's server; in AWS Terraform makes them):
on-demand and encrypted, as Terraform declares them."""

from typing import TYPE_CHECKING, Any

from runtime.errors import aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def ensure_table(dynamodb: "DynamoDBClient", name: str, **definition: Any) -> bool:
    """Create the table from `definition` (attributes, keys, indexes) unless it exists, and wait until
    it is active; True when created."""
    with aws_errors("DescribeTable"):
        try:
            dynamodb.describe_table(TableName=name)
            return False
        except dynamodb.exceptions.ResourceNotFoundException:
            pass
    with aws_errors("CreateTable"):
        dynamodb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST", SSESpecification={"Enabled": True}, **definition
        )
        dynamodb.get_waiter("table_exists").wait(TableName=name)
    return True

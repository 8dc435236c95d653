"""The emulation is as strict as AWS where the system's exactness depends on it."""

from __future__ import annotations

import threading

from botocore.exceptions import ClientError

from driftline.aws.clients import Clients


def test_concurrent_conditional_writes_to_one_item_let_exactly_one_win(aws):
    """DynamoDB applies a conditional write atomically per item; the controller's claim-before-invoke relies on
    it. moto did not (two racing claims could both pass), which made an exactness test flaky under load."""
    table = aws.table("checkpoints")
    winners: list[int] = []
    errors: list[str] = []
    for round_ in range(20):
        barrier = threading.Barrier(8)

        def claim(i: int, round_=round_, barrier=barrier) -> None:
            db = Clients(aws).dynamodb
            barrier.wait()
            try:
                db.update_item(
                    TableName=table,
                    Key={"pk": {"S": f"race#{round_}"}, "sk": {"S": "x"}},
                    UpdateExpression="SET claimant = :me",
                    ConditionExpression="attribute_not_exists(pk)",
                    ExpressionAttributeValues={":me": {"N": str(i)}},
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    errors.append(str(exc))
                return
            winners.append(round_)

        threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert sorted(winners) == list(range(20))  # one winner per item, every time


def test_a_denied_call_fails_as_the_service_words_it(iam):
    """Code that handles AWS errors by their code sees the same code locally: DynamoDB and EventBridge answer
    400 AccessDeniedException, SNS 403 AuthorizationError, S3 403 AccessDenied."""
    import pytest

    serving = iam.clients("serving")
    settings = iam.settings
    cases = [
        (lambda: serving.dynamodb.scan(TableName=settings.table("results")), "AccessDeniedException", 400),
        (lambda: serving.sns.publish(TopicArn=settings.alerts_topic_arn, Message="x"), "AuthorizationError", 403),
        (lambda: serving.s3.get_object(Bucket=settings.bucket, Key="events/x"), "AccessDenied", 403),
    ]
    for call, code, status in cases:
        with pytest.raises(ClientError) as denied:
            call()
        error = denied.value.response
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    assert len(iam.ledger.report()["denied"]) == 3

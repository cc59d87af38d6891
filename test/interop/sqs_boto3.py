"""boto3 (Debian's python3-boto3, which speaks the AWS query protocol) against opencmq's SQS API.

Run by test/integration/sqs-aws-cli-boto3.test.ts:
    python3 sqs_boto3.py ENDPOINT ACCESS_KEY SECRET_KEY PREFIX
Exits 0 and prints OK when every action answered as SQS documents; raises otherwise.
"""
import json
import sys
import time

import boto3
import botocore.exceptions

endpoint, key, secret, prefix = sys.argv[1:5]
c = boto3.client(
    "sqs",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=key,
    aws_secret_access_key=secret,
)


def error_code(fn, **kwargs):
    try:
        fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("expected an error from %s" % fn.__name__)


def receive_all(url, count, seconds=10):
    out = []
    deadline = time.time() + seconds
    while len(out) < count and time.time() < deadline:
        r = c.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        out.extend(r.get("Messages", []))
    return out


url = c.create_queue(QueueName=prefix + "-main", Attributes={"VisibilityTimeout": "5"}, tags={"team": "payments"})["QueueUrl"]
assert url.endswith("/" + prefix + "-main"), url
assert c.create_queue(QueueName=prefix + "-main", Attributes={"VisibilityTimeout": "5"})["QueueUrl"] == url
assert error_code(c.create_queue, QueueName=prefix + "-main", Attributes={"VisibilityTimeout": "6"})[0] == "QueueAlreadyExists"
dlq = c.create_queue(QueueName=prefix + "-dlq")["QueueUrl"]
other = c.create_queue(QueueName=prefix + "-other")["QueueUrl"]

assert c.get_queue_url(QueueName=prefix + "-main")["QueueUrl"] == url
assert error_code(c.get_queue_url, QueueName=prefix + "-missing") == ("AWS.SimpleQueueService.NonExistentQueue", 400)

assert sorted(c.list_queues(QueueNamePrefix=prefix)["QueueUrls"]) == sorted([url, dlq, other])
page1 = c.list_queues(QueueNamePrefix=prefix, MaxResults=2)
assert len(page1["QueueUrls"]) == 2 and page1["NextToken"]
page2 = c.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=page1["NextToken"])
assert sorted(page1["QueueUrls"] + page2["QueueUrls"]) == sorted([url, dlq, other])

dlq_arn = c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
c.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})})
attrs = c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
assert attrs["VisibilityTimeout"] == "5" and json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 5, attrs
for k in ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "QueueArn"]:
    assert k in attrs, k
assert c.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]

c.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "billing"})
c.untag_queue(QueueUrl=url, TagKeys=["env"])
assert c.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "billing"}

sent = c.send_message(
    QueueUrl=url,
    MessageBody="credit 42 <to> & account 7 \u2713\r\nnext line",
    MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "credit"},
        "amount": {"DataType": "Number", "StringValue": "42.50"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    },
    MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}},
)
assert sent["MessageId"] and sent["MD5OfMessageBody"] and sent["MD5OfMessageAttributes"]

batch = c.send_message_batch(
    QueueUrl=url,
    Entries=[{"Id": "m%d" % i, "MessageBody": "" if i == 3 else "batch %d" % i} for i in range(10)],
)
assert len(batch["Successful"]) == 9 and [f["Id"] for f in batch["Failed"]] == ["m3"], batch

got = receive_all(url, 10)
assert len(got) == 10, len(got)
first = [m for m in got if m["MessageId"] == sent["MessageId"]][0]
assert first["Body"] == "credit 42 <to> & account 7 \u2713\r\nnext line", repr(first["Body"])
assert first["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\x01\xff"
assert first["MessageAttributes"]["amount"]["StringValue"] == "42.50"
assert first["Attributes"]["AWSTraceHeader"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
assert first["Attributes"]["ApproximateReceiveCount"] == "1"

c.change_message_visibility(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0)
vis = c.change_message_visibility_batch(
    QueueUrl=url,
    Entries=[
        {"Id": "a", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "bad", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 5},
    ],
)
assert [s["Id"] for s in vis["Successful"]] == ["a"] and vis["Failed"][0]["Code"] == "ReceiptHandleIsInvalid", vis
again = receive_all(url, 2)
assert sorted(m["MessageId"] for m in again) == sorted([got[0]["MessageId"], got[1]["MessageId"]])

c.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
deleted = c.delete_message_batch(
    QueueUrl=url,
    Entries=[{"Id": "d%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(again[1:] + got[2:])],
)
assert not deleted.get("Failed"), deleted
counts = c.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
assert counts == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}, counts

c.send_message(QueueUrl=other, MessageBody="to purge")
c.purge_queue(QueueUrl=other)
assert c.get_queue_attributes(QueueUrl=other, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "0"

for u in [url, other, dlq]:
    c.delete_queue(QueueUrl=u)
assert c.list_queues(QueueNamePrefix=prefix).get("QueueUrls", []) == []
print("OK")

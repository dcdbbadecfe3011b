"""Creates the S3 bucket and the SQS queues of the local stack when they are missing (moto is in-memory)."""
import os
import sys
from urllib.parse import urlparse

import boto3

endpoint = os.environ["S3_ENDPOINT_URL"]
region = os.environ.get("S3_REGION", "us-east-1")
session = boto3.session.Session(
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
    region_name=region,
)
s3 = session.client("s3", endpoint_url=endpoint)
bucket = os.environ["S3_BUCKET"]
if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
    s3.create_bucket(Bucket=bucket)
    print(f"[stack] created bucket {bucket}", file=sys.stderr)

sqs = session.client("sqs", endpoint_url=endpoint)
for url_var in ("SQS_DLQ_URL", "SQS_QUEUE_URL", "SQS_PUBLISH_QUEUE_URL"):
    url = os.environ.get(url_var, "")
    if url:
        sqs.create_queue(QueueName=urlparse(url).path.rsplit("/", 1)[-1])  # idempotent

"""The fault proxy injects 503 SlowDown, and S3 clients recover from it with their retries."""

from __future__ import annotations

import boto3
from botocore.config import Config

from devstack.faultproxy import FaultProxy


def test_slowdown_is_injected_and_retried(stack):
    with FaultProxy(stack.aws_endpoint, failure_rate=0.2, seed=1) as proxy:
        s3 = boto3.client(
            "s3",
            endpoint_url=proxy.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 10}),
        )
        s3.create_bucket(Bucket="fault-proxy-test")
        for i in range(20):
            s3.put_object(Bucket="fault-proxy-test", Key=f"k{i}", Body=str(i).encode())
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="fault-proxy-test")["Contents"]}
    assert keys == {f"k{i}" for i in range(20)}
    assert proxy.failures >= 3
    assert proxy.requests >= 22 + proxy.failures

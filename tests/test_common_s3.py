"""The shared S3 module against moto over HTTP: parsing, streaming transfers, conditional updates."""

from __future__ import annotations

import logging
import threading

import pytest

from include.common import s3 as common_s3
from include.common.tasks import fail, skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s3://bucket/a/b.mp4", ("bucket", "a/b.mp4")),
        ("s3://bucket/", ("bucket", "")),
        ("s3://bucket", ("bucket", "")),
        ("s3://my.bucket/key with spaces", ("my.bucket", "key with spaces")),
    ],
)
def test_parse_url(text, expected):
    assert common_s3.parse_url(text) == expected
    assert common_s3.url(*expected) == (text if text.endswith("/") or expected[1] else text + "/")


@pytest.mark.parametrize("text", ["", "bucket/key", "https://bucket/key", "s3:///key", None])
def test_parse_url_names_the_field(text):
    with pytest.raises(ValueError, match=r"^talkbot_config\.ledger: "):
        common_s3.parse_url(text, field="talkbot_config.ledger")


def test_client_comes_from_the_connection(stack, unique_name):
    client = common_s3.client()
    client.create_bucket(Bucket=unique_name)
    assert unique_name in [b["Name"] for b in stack.boto3_client("s3").list_buckets()["Buckets"]]
    pooled = common_s3.client(concurrency=32)
    assert pooled.meta.config.max_pool_connections == 32


def test_upload_and_download_stream_with_progress(s3, unique_name, tmp_path, caplog):
    s3.create_bucket(Bucket=unique_name)
    source = tmp_path / "big.bin"
    source.write_bytes(bytes(range(256)) * 40_000)  # 10 MB: more than one 8 MB chunk
    with caplog.at_level(logging.INFO, logger="include.common.s3"):
        common_s3.upload(s3, source, unique_name, "x/big.bin", content_type="video/mp4", metadata={"a": "b"})
        head = s3.head_object(Bucket=unique_name, Key="x/big.bin")
        target = common_s3.download(s3, unique_name, "x/big.bin", tmp_path / "copy.bin", IfMatch=head["ETag"])
    assert target.read_bytes() == source.read_bytes()
    assert (head["ContentType"], head["Metadata"]) == ("video/mp4", {"a": "b"})
    assert f"upload s3://{unique_name}/x/big.bin: 10.2/10.2 MB (100%)" in caplog.text
    assert f"download s3://{unique_name}/x/big.bin: 10.2/10.2 MB (100%)" in caplog.text
    s3.put_object(Bucket=unique_name, Key="x/big.bin", Body=b"replaced")
    with pytest.raises(Exception, match=r"PreconditionFailed|412"):
        common_s3.download(s3, unique_name, "x/big.bin", tmp_path / "stale.bin", IfMatch=head["ETag"])


def test_missing_object_is_recognised(s3, unique_name):
    from botocore.exceptions import ClientError

    s3.create_bucket(Bucket=unique_name)
    with pytest.raises(ClientError) as raised:
        s3.head_object(Bucket=unique_name, Key="nothing")
    assert common_s3.is_missing(raised.value)


def test_update_object_never_loses_a_concurrent_update(s3, unique_name):
    s3.create_bucket(Bucket=unique_name)
    barrier = threading.Barrier(6)

    def writer(n: int) -> None:
        barrier.wait()
        common_s3.update_object(
            s3,
            unique_name,
            "list.txt",
            lambda body: (body or b"") + f"{n}\n".encode(),
            content_type="text/plain",
        )

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    body = s3.get_object(Bucket=unique_name, Key="list.txt")["Body"].read().decode()
    assert sorted(body.split()) == [str(n) for n in range(6)]


def test_fail_and_skip_always_raise():
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    with pytest.raises(AirflowFailException, match="bad input"):
        fail("bad input")
    with pytest.raises(AirflowSkipException, match="nothing to do"):
        skip("nothing to do")

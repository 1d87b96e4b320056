"""The ledger in (moto) S3: records per object version, conditional writes that never lose an update."""

from __future__ import annotations

import threading

from include.video_publishing.ledger import Ledger, record_key


def test_records_are_created_updated_and_keep_history(s3, unique_name):
    s3.create_bucket(Bucket=unique_name)
    ledger = Ledger(unique_name, client=s3)
    assert ledger.read("talk-1", "abc") is None

    ledger.update("talk-1", "abc", lambda r: r.update(status="processing", key="raw/x.mp4"))
    ledger.update("talk-1", "abc", lambda r: r.update(status="published", link="https://y"))
    record = ledger.read("talk-1", "abc")

    assert record["uuid"] == "talk-1"
    assert (record["status"], record["key"], record["link"]) == ("published", "raw/x.mp4", "https://y")
    assert [h["status"] for h in record["history"]] == ["processing", "published"]
    assert (
        s3.head_object(Bucket=unique_name, Key=record_key("talk-1", "abc"))["ContentType"]
        == "application/json"
    )
    assert ledger.read("talk-1", "other-version") is None


def test_parallel_writers_never_lose_an_update(s3, unique_name):
    s3.create_bucket(Bucket=unique_name)
    ledger = Ledger(unique_name, client=s3)
    ledger.update("talk-2", "v1", lambda r: r.update(emails={}))
    barrier = threading.Barrier(6)

    def writer(n: int) -> None:
        barrier.wait()
        Ledger(unique_name, client=s3).update(
            "talk-2", "v1", lambda r: r.setdefault("emails", {}).update({f"s{n}@example.org": "sent"})
        )

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(ledger.read("talk-2", "v1")["emails"]) == [f"s{n}@example.org" for n in range(6)]

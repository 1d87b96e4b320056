"""The ledger in (moto) S3: records per object version, conditional writes that never lose an update,
the private location and the transition from the library bucket's old ``_talkbot/`` area."""

from __future__ import annotations

import json
import threading

from include.video_publishing.ledger import Ledger


def test_records_are_created_updated_and_keep_history(s3, unique_name):
    s3.create_bucket(Bucket=unique_name)
    ledger = Ledger(unique_name, "private/", client=s3)
    assert ledger.read("talk-1", "abc") is None

    ledger.update("talk-1", "abc", lambda r: r.update(status="processing", key="raw/x.mp4"))
    ledger.update("talk-1", "abc", lambda r: r.update(status="published", link="https://y"))
    record = ledger.read("talk-1", "abc")

    assert record["uuid"] == "talk-1"
    assert (record["status"], record["key"], record["link"]) == ("published", "raw/x.mp4", "https://y")
    assert [h["status"] for h in record["history"]] == ["processing", "published"]
    head = s3.head_object(Bucket=unique_name, Key="private/ledger/talk-1/abc.json")
    assert head["ContentType"] == "application/json"
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


def test_old_records_are_read_from_the_library_bucket_and_move_on_the_next_write(s3, unique_name):
    library, private = f"{unique_name}-lib", f"{unique_name}-private"
    s3.create_bucket(Bucket=library)
    s3.create_bucket(Bucket=private)
    old = Ledger(library, client=s3)  # where records were written before talkbot_config.ledger
    old.update("talk-3", "v1", lambda r: r.update(status="published", link="https://old"))
    old.record_rejected("bad1", {"key": "bad name.mp4", "reason": "no uuid"})

    ledger = Ledger.at(f"s3://{private}/talkbot/", library, client=s3)
    assert ledger.read("talk-3", "v1")["link"] == "https://old"
    assert [r["identity"] for r in ledger.versions("talk-3")] == ["v1"]

    ledger.update("talk-3", "v1", lambda r: r.update(note="moved"))
    moved = json.loads(s3.get_object(Bucket=private, Key="talkbot/ledger/talk-3/v1.json")["Body"].read())
    assert (moved["status"], moved["link"], moved["note"]) == ("published", "https://old", "moved")
    assert ledger.read("talk-3", "v1")["note"] == "moved"

    ledger.record_rejected("bad2", {"key": "other.mp4", "reason": "no uuid"})
    rejected = s3.list_objects_v2(Bucket=private, Prefix="talkbot/rejected/")["Contents"]
    assert [o["Key"] for o in rejected] == ["talkbot/rejected/bad2.json"]


def test_without_a_location_the_old_place_stays_in_use(s3, unique_name, caplog):
    s3.create_bucket(Bucket=unique_name)
    ledger = Ledger.at(None, unique_name, client=s3)
    ledger.update("talk-4", "v1", lambda r: r.update(status="uploaded"))
    assert s3.head_object(Bucket=unique_name, Key="_talkbot/ledger/talk-4/v1.json")
    assert "talkbot_config.ledger is not set" in caplog.text


def test_talk_record_keeps_its_own_fields(s3, unique_name):
    s3.create_bucket(Bucket=unique_name)
    ledger = Ledger(unique_name, "p/", client=s3)
    assert ledger.read_talk("talk-5") == {}
    ledger.update_talk("talk-5", lambda r: r.setdefault("videos", []).append({"video_id": "a"}))
    ledger.update_talk("talk-5", lambda r: r.setdefault("videos", []).append({"video_id": "b"}))
    assert [v["video_id"] for v in ledger.read_talk("talk-5")["videos"]] == ["a", "b"]


def test_destination_states_read_both_record_shapes():
    from include.ui_views.talks import destination_details, destination_links
    from include.video_publishing.ledger import destination_states

    old = {"youtube": {"video_id": "abc", "upload_session": "https://u/secret"}}
    new = {
        "destinations": {
            "youtube": {
                "video_id": "new",
                "link": "https://www.youtube.com/watch?v=new",
                "status": "published",
            },
            "facebook": {"video_id": "9", "link": "https://fb/9", "facebook_session": {"id": "s"}},
        },
        "youtube": {"video_id": "stale"},  # carried over on the first write; destinations wins
    }
    assert destination_states(old) == {"youtube": old["youtube"]}
    assert destination_states(new)["youtube"]["video_id"] == "new"
    assert destination_links(old) == [("youtube", "uploaded", "https://www.youtube.com/watch?v=abc")]
    assert destination_links(new) == [
        ("facebook", "uploaded", "https://fb/9"),
        ("youtube", "published", "https://www.youtube.com/watch?v=new"),
    ]
    details = destination_details(new)
    assert "facebook_session" not in details["facebook"]
    assert "upload_session" not in destination_details(old)["youtube"]

"""Talk video publishing ("talkbot"): S3 upload → trimmed, faded video in the library, on YouTube and on a
Facebook Page (the conference's ``publisher`` list).

Modules, in the order an upload meets them:

- ``config``   — the validated ``talkbot_config`` Variable and conference lookup by bucket/prefix.
- ``naming``   — ``<anything>_<uuid>_<HHMMSS>_<HHMMSS>.mp4`` file names.
- ``events``   — S3 event messages from SQS → uploads to publish (or a recorded reason not to).
- ``ledger``   — one JSON record per object version in S3; what makes retries and duplicates safe.
- ``talks``    — talk and speaker sheet lookups and ``STATUS``/``LINK`` writes.
- ``text``     — YouTube description and speaker email rendering.
- ``youtube``  — resumable upload and playlist insert with user OAuth credentials.
- ``facebook`` — Graph API resumable upload to a Page, video URL, hide/delete, rate limits.
- ``mail``     — one email per speaker through ``smtp_default`` (refusals recorded per address).
- ``listener`` / ``publish`` / ``reconcile`` — the task bodies of ``talkbot_sqs_listener``,
  ``talkbot_publish_video`` and ``talkbot_reconcile``, one function per task, named after its task id.
- ``operators`` — ``PublishVideoOperator``: the publish task (mapped per destination) and its capped
  waits for YouTube's quota and Facebook's rate limits.
- ``render`` / ``media`` — the ffmpeg render engine (separate owner).
"""

"""Transcripts of talks and what is made from them: WebVTT captions and keyword tags.

``engines`` holds the interface and the factory (``engine_from_settings``); ``local`` runs pocketsphinx
on the worker with the English model inside its wheel (nothing downloads); ``aws`` runs Amazon Transcribe
and waits for it in the triggerer; ``captions`` turns a transcript into WebVTT cues players accept;
``keywords`` turns transcript, title and description into tags within YouTube's limits; ``destinations``
puts captions and tags on the published videos; ``operator.TranscribeOperator`` is the task that runs
any engine and defers while a managed one works.
"""

"""Data behind the Talks and Datasets views of the Airflow UI plugin (``plugins/media_views``).

``summaries`` keeps one small JSON object per conference and one per dataset bucket up to date where the
ledger and the dataset sync write their records, so a page reads one object instead of one per talk or
per frame; ``talks`` and ``datasets`` turn those summaries (and the talk sheet) into what the pages show.
"""

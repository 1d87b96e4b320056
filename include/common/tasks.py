"""How a task body ends early, the same way in both pipelines.

``fail`` ends the task as failed *without retries* (bad input: retrying would fail again the same way);
``skip`` ends it as skipped. Both log the message first, so it is in the task log even when the exception
is later wrapped, and both always raise: a caller never has to remember to ``raise`` the result.
"""

from __future__ import annotations

import logging
from typing import NoReturn

log = logging.getLogger(__name__)


def fail(message: str) -> NoReturn:
    """Fail the running task without retries, with ``message`` as the reason."""
    from airflow.sdk.exceptions import AirflowFailException

    log.error(message)
    raise AirflowFailException(message)


def skip(message: str) -> NoReturn:
    """Skip the running task (and, by the default trigger rule, its downstream tasks)."""
    from airflow.sdk.exceptions import AirflowSkipException

    log.info(message)
    raise AirflowSkipException(message)


def current_run_id() -> str | None:
    """The run id of the running task, or None outside a task (unit tests, benchmarks)."""
    from airflow.sdk import get_current_context

    try:
        return get_current_context()["run_id"]
    except Exception:  # no task context here
        return None

"""The provider's ``SqsSensor`` and its trigger, asking SQS how often each message was received.

``ReceiveMessage`` returns a message's ``ApproximateReceiveCount`` only when asked for it, and neither
``SqsSensor`` (poking) nor ``SqsSensorTrigger`` (deferred, in the triggerer) asks. The listener needs the
count to stop retrying a message that keeps coming back (``talkbot_config.max_receives``), so these
subclasses send the same request with ``MessageSystemAttributeNames=["ApproximateReceiveCount"]``; each
message then carries ``Attributes.ApproximateReceiveCount``. Everything else (filtering, deleting on
reception, XCom key ``messages``) is the provider's.

The trigger lives here, in ``include/``, because the triggerer imports it by its class path.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.sensors.sqs import SqsSensor
from airflow.providers.amazon.aws.triggers.sqs import SqsSensorTrigger

from include.video_publishing.events import RECEIVE_COUNT


def receive_request(sensor_or_trigger: SqsSensor | SqsSensorTrigger) -> dict[str, Any]:
    """``ReceiveMessage`` arguments of the provider's poll, plus the receive count."""
    request: dict[str, Any] = {
        "QueueUrl": sensor_or_trigger.sqs_queue,
        "MaxNumberOfMessages": sensor_or_trigger.max_messages,
        "WaitTimeSeconds": sensor_or_trigger.wait_time_seconds,
        "MessageSystemAttributeNames": [RECEIVE_COUNT],
    }
    if sensor_or_trigger.visibility_timeout is not None:
        request["VisibilityTimeout"] = sensor_or_trigger.visibility_timeout
    return request


class ReceiveCountSqsTrigger(SqsSensorTrigger):
    """``SqsSensorTrigger`` whose messages carry ``Attributes.ApproximateReceiveCount``."""

    async def poll_sqs(self, client: Any) -> Any:
        self.log.info("checking for messages on queue %s", self.sqs_queue)
        return await client.receive_message(**receive_request(self))


class ReceiveCountSqsSensor(SqsSensor):
    """``SqsSensor`` whose messages carry ``Attributes.ApproximateReceiveCount``, poking or deferred."""

    def poll_sqs(self, sqs_conn: Any) -> Any:
        self.log.info("checking for messages on queue %s", self.sqs_queue)
        return sqs_conn.receive_message(**receive_request(self))

    def defer(self, *, trigger: Any, **kwargs: Any) -> Any:
        """Defer to ``ReceiveCountSqsTrigger`` built from the provider trigger's own arguments."""
        if type(trigger) is SqsSensorTrigger:
            _, arguments = trigger.serialize()
            trigger = ReceiveCountSqsTrigger(**arguments)
        return super().defer(trigger=trigger, **kwargs)

"""The whole local stand-in stack in one context manager, shared by tests and ``make demo``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from devstack.aws import MotoServer
from devstack.facebook import FacebookStandIn
from devstack.google import GoogleStandIn
from devstack.smtp import SmtpSink

FROM_EMAIL = "talkbot@example.org"


class LocalStack:
    """moto (S3/SQS/SNS), an SMTP sink, the Google and the Facebook stand-ins, each on a free 127.0.0.1 port.

    ``env`` holds the ``AIRFLOW_CONN_*`` variables that point Airflow's ordinary connection
    ids at these servers; ``apply_env()`` puts them in ``os.environ``.
    """

    def __init__(self, workdir: Path, *, save_mail: bool = False) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.aws = MotoServer()
        self.smtp = SmtpSink(save_dir=self.workdir / "mail" if save_mail else None)
        self.google = GoogleStandIn(self.workdir / "google")
        self.facebook = FacebookStandIn(self.workdir / "facebook")
        self._started: list = []

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> LocalStack:
        for server in (self.aws, self.smtp, self.google, self.facebook):
            server.start()
            self._started.append(server)
        return self

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what clients need ------------------------------------------------------------------
    @property
    def aws_endpoint(self) -> str:
        return self.aws.endpoint

    def boto3_client(self, service: str, **kwargs):
        return self.aws.client(service, **kwargs)

    def connections(self) -> dict[str, dict]:
        conns = {
            "aws_default": self.aws.connection(),
            "smtp_default": {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": self.smtp.port,
                "extra": {"disable_ssl": True, "disable_tls": True, "from_email": FROM_EMAIL, "timeout": 10},
            },
        }
        conns.update(self.google.connections())
        conns.update(self.facebook.connections())
        return conns

    @property
    def env(self) -> dict[str, str]:
        env = {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(c) for conn_id, c in self.connections().items()}
        # Clients built outside Airflow connections (boto3 defaults) must never reach real AWS.
        env.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.aws.endpoint,
            }
        )
        return env

    def apply_env(self) -> None:
        os.environ.update(self.env)

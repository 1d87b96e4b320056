"""AWS stand-in: moto in server mode (S3, SQS, SNS), reached over real HTTP."""

from __future__ import annotations

import logging

from moto.server import ThreadedMotoServer

from devstack.net import free_port, wait_for_port

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


class MotoServer:
    """One moto server on 127.0.0.1:<free port>."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> MotoServer:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server.start()
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str, **kwargs):
        """A boto3 client for this server (tests and seeding only)."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            **kwargs,
        )

    def connection(self) -> dict:
        """The ``aws_default`` connection, as Airflow reads it from AIRFLOW_CONN_AWS_DEFAULT."""
        return {
            "conn_type": "aws",
            "login": ACCESS_KEY,
            "password": SECRET_KEY,
            "extra": {"region_name": REGION, "endpoint_url": self.endpoint},
        }

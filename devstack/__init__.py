"""Local stand-ins for AWS, Google and SMTP, for tests and ``make demo`` only.

Nothing under ``devstack/`` is a product code path: the DAGs reach these servers only
through the ordinary Airflow connections (``aws_default``, ``google_cloud_default``,
``smtp_default``, ``youtube_default``) whose endpoints point here.
"""

from devstack.stack import LocalStack

__all__ = ["LocalStack"]

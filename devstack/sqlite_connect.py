"""SQLite connect arguments for the laptop's Airflow processes (``[database] sql_alchemy_connect_args``).

Scheduler, DAG processor, triggerer, API server, task processes and any CLI command a person runs
beside them (``airflow backfill create``) share one SQLite file. Python's sqlite3 waits only 5 s
for another writer's lock before raising "database is locked"; on a busy 2-core laptop a
scheduler transaction can hold it longer, and the command fails. 30 s of waiting is cheap next to
a failed command. PostgreSQL deployments never read this.
"""

CONNECT_ARGS: dict[str, object] = {"timeout": 30}

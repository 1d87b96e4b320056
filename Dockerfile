# Production image: the official Airflow image plus this package. Tag it with the git commit and
# never reuse a tag (the Helm values and compose pin it):
#   docker build -t <registry>/media-pipelines:$(git rev-parse --short HEAD) .
FROM apache/airflow:3.3.2-python3.11

USER root
# ffmpeg (with ffprobe) from the distribution; the render code finds it on PATH.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
USER airflow

# Same pins as local development: constraints.txt is the full resolved set.
COPY --chown=airflow:root requirements.txt constraints.txt /opt/airflow/
RUN pip install --no-cache-dir -r /opt/airflow/requirements.txt -c /opt/airflow/constraints.txt

COPY --chown=airflow:root dags/ /opt/airflow/dags/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
# Pools imported at every install/upgrade (compose's airflow-init, the chart's migration job).
COPY --chown=airflow:root deploy/pools.json /opt/airflow/deploy/pools.json
# DAG files import their logic as `include.<domain>`.
ENV PYTHONPATH=/opt/airflow

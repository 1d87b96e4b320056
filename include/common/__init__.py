"""Code shared by both pipelines: S3 access, spreadsheets, failure alerts, ending a task early."""

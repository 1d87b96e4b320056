"""Code shared by both pipelines: spreadsheet access and failure alerts."""

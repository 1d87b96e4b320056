"""The web app behind the Talks and Datasets views (mounted by ``media_views_plugin``)."""

"""Helpers for the uwsgi-emperor package: enable, disable, query and create uWSGI vassals."""

__version__ = "1.0.0"

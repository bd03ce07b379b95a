"""Helpers for the uwsgi-emperor package: enable, disable, query and create uWSGI vassals."""

from importlib import metadata

# Written once, in debian/changelog (setup.py reads it); None when run from a checkout.
try:
    __version__ = metadata.version("uwsgi-ensite")
except metadata.PackageNotFoundError:
    __version__ = None

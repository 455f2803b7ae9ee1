"""Manifest repositories: manifest stores kept under their manifest id and found again by soft binding.

:mod:`.base` is the interface every repository implements (embedded SQLite, PostgreSQL, and the client of
a Soft Binding Resolution API service); :func:`rightsmark.repository.base.open_repository` picks one
from what the user wrote (a path, a ``postgresql://`` URL, an ``http(s)://`` URL).
"""

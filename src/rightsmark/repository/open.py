"""Opening the repository a user named: a path (embedded SQLite), ``postgresql://`` (PostgreSQL) or
``http(s)://`` (a Soft Binding Resolution API service)."""

from __future__ import annotations

from rightsmark.repository.base import Repository, RepositoryError

_POSTGRES = ("postgresql://", "postgres://")
_HTTP = ("http://", "https://")


def kind(spec: str) -> str:
    """``sqlite``, ``postgres`` or ``http``: the kind of repository ``spec`` names."""
    lowered = spec.lower()
    if lowered.startswith(_POSTGRES):
        return "postgres"
    if lowered.startswith(_HTTP):
        return "http"
    if "://" in spec:
        scheme = spec.split("://", 1)[0]
        raise RepositoryError(
            f"a repository is a path, a postgresql:// URL or an http(s):// URL, not a {scheme}:// URL",
            hint="give a file path for an embedded repository",
        )
    if not spec:
        raise RepositoryError("no repository named", hint="give a path, a postgresql:// URL or an http(s):// URL")
    return "sqlite"


def open_repository(spec: str, *, create: bool = False) -> Repository:
    """The repository ``spec`` names; ``create`` makes an embedded or PostgreSQL one that is not there yet
    (only writers ask for it: a lookup in a repository that does not exist is an error)."""
    which = kind(spec)
    if which == "postgres":
        from rightsmark.repository.postgres import PostgresRepository

        return PostgresRepository(spec, create=create)
    if which == "http":
        from rightsmark.repository.remote import RemoteRepository

        return RemoteRepository(spec)
    from rightsmark.repository.sqlite import SqliteRepository

    return SqliteRepository(spec, create=create)

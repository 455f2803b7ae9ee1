"""The package version: one place, imported by whatever records it (manifests, reports, the CLI)."""

__version__ = "0.1.0"

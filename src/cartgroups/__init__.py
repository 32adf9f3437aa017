"""cartgroups: the 3dcart CustomerGroups REST API, self-hosted."""

__version__ = "0.1.0"

"""The offline bundle: every file and image a lab needs, built here from upstream sources."""

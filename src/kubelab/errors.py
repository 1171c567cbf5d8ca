"""Errors a user can act on: each message says what is wrong and what to do."""


class KubelabError(Exception):
    """Base for errors kubelab reports without a traceback."""


class SpecError(KubelabError):
    """A lab spec, inventory or manifest is invalid; nothing has been touched."""

    def __init__(self, file: str, field: str, problem: str, fix: str):
        self.file, self.field, self.problem, self.fix = file, field, problem, fix
        super().__init__(f"{file}: {field}: {problem}. Fix: {fix}")


class ArtifactError(KubelabError):
    """A download or offline-bundle file is missing or fails its checksum."""

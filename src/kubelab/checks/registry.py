"""Checks and steps found by name, so an exercise names its proof and the engine knows no exercise.

A check reads the lab and returns a Verdict; a step changes the lab (kill -9
a container, delete a pod) and returns what a later check compares with, or
a Verdict when it could not act. Both are plain functions whose first
parameter is the Lab, registered with `@check` or `@step`; their other
parameters are the arguments an exercise file gives, so a missing or unknown
argument is found when the file is read, before any host is touched. A check
with a parameter named `before` observes a step: the grader passes it what
that step returned, and the exercise file names the step with `after:`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Callable

from kubelab.errors import KubelabError

OBSERVED = "before"  # the parameter through which a check receives its step's record

_CHECKS: dict[str, "Registered"] = {}
_STEPS: dict[str, "Registered"] = {}


class RegistryError(KubelabError):
    """Two functions claim one name: an exercise file could not say which it means."""


@dataclass(frozen=True)
class Registered:
    name: str
    function: Callable
    required: frozenset[str]  # arguments an exercise must give
    optional: frozenset[str]  # arguments with a default
    observes: bool = False  # takes the record of the step it runs after

    def problems(self, args: dict) -> list[str]:
        """What is wrong with `args` for this function: missing or unknown names ([] when none)."""
        found = [f"missing argument {a!r}" for a in sorted(self.required - set(args))]
        found += [f"unknown argument {a!r} (it takes: {', '.join(sorted(self.required | self.optional))})"
                  for a in sorted(set(args) - self.required - self.optional)]
        return found


def _register(table: dict[str, Registered], function: Callable) -> Callable:
    name = function.__name__
    # The same function again (a module reloaded) is no conflict.
    where = (function.__module__, function.__qualname__)
    if name in table and (table[name].function.__module__, table[name].function.__qualname__) != where:
        raise RegistryError(f"{function.__module__}.{name} and {table[name].function.__module__}.{name} both "
                            f"register the name {name!r}. Fix: rename one of them")
    params = list(inspect.signature(function).parameters.values())[1:]  # the first is the Lab
    given = [p for p in params if p.name != OBSERVED]
    table[name] = Registered(
        name, function,
        frozenset(p.name for p in given if p.default is inspect.Parameter.empty),
        frozenset(p.name for p in given if p.default is not inspect.Parameter.empty),
        observes=len(given) < len(params))
    return function


def check(function: Callable) -> Callable:
    """Register a check: `function(lab, **args) -> Verdict`."""
    return _register(_CHECKS, function)


def step(function: Callable) -> Callable:
    """Register a step that changes the lab before the checks that observe it."""
    return _register(_STEPS, function)


def checks() -> dict[str, Registered]:
    _load()
    return dict(_CHECKS)


def steps() -> dict[str, Registered]:
    _load()
    return dict(_STEPS)


def _load() -> None:
    # Importing every module of the package runs its decorators: a new module of
    # checks registers itself without being listed anywhere.
    import kubelab.checks as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")

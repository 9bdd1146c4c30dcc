"""Exceptions raised by evoautodl.

Every error a user can cause carries a message that names the offending item
(hyperparameter, config key, file) and the problem, so the CLI can print one
line and exit with code 2.
"""

from __future__ import annotations


class EvoAutoDLError(Exception):
    """Base class of all evoautodl errors."""


class SpaceError(EvoAutoDLError, ValueError):
    """A search space definition is invalid (names the hyperparameter)."""


class InfeasibleSpaceError(SpaceError):
    """Forbidden clauses exclude every (or nearly every) configuration."""


class GenomeError(EvoAutoDLError, ValueError):
    """A genome has the wrong shape or cannot be decoded."""


class ConfigError(EvoAutoDLError, ValueError):
    """An experiment configuration is invalid (names the key)."""


class DataError(EvoAutoDLError, ValueError):
    """User data (CSV, NPZ, arrays) cannot be used (names the problem)."""


class WorkloadError(EvoAutoDLError, RuntimeError):
    """A workload cannot be set up (missing files, bad options)."""


class RunDirError(EvoAutoDLError, RuntimeError):
    """A run directory is missing, locked, or inconsistent."""

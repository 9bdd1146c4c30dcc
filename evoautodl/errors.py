"""Exceptions raised by evoautodl.

Every error a user can cause carries a message that names the offending item
(hyperparameter, config key, file) and the problem, so the CLI can print one
line and exit with code 2 (input refused before anything ran) or 1 (`RunError`:
a started run stopped on an error and can be resumed).
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


class AnalysisError(EvoAutoDLError, ValueError):
    """The data cannot support the analysis asked for (names what is missing); `evoautodl.analysis`."""


class CompareError(EvoAutoDLError, ValueError):
    """A results folder cannot be compared (names the file, key or cell and the problem); `evoautodl.compare`."""


class RunError(EvoAutoDLError, RuntimeError):
    """A started run stopped on an error; what it logged is kept and ``evoautodl resume`` continues.

    The CLI prints the message and exits with code 1 (2 is for input that is
    refused before anything runs).
    """


class AlgorithmError(RunError):
    """The algorithm's ``ask``/``tell`` (or ``is_finished``) raised, or it asks for nothing with every worker idle."""


class NoWorkersError(RunError):
    """No worker can run a trial any more (hung, set aside, failed setup or gone); names them and why."""

"""The contract checks users run on their own algorithms and operators (as Optuna ships its test suites).

::

    from evoautodl.testing import check_algorithm, check_operator

    report = check_algorithm(MyAlgorithm)              # every check of evoautodl.testing.algorithm
    report = check_operator(my_mutation, params={"scale": 0.1})  # str(report): one line per check

Both return a report of what passed and raise :class:`ContractViolation` (an
``AssertionError``, so pytest shows it as a failure) naming the check and the
problem. The built-in algorithms run through the same checks in the test
suite (tests/test_algorithm_contract.py).
"""

from evoautodl.testing.algorithm import ALGORITHM_CHECKS, AlgorithmReport, check_algorithm
from evoautodl.testing.driver import ContractViolation, Script
from evoautodl.testing.operator import OperatorReport, check_operator

__all__ = ["ALGORITHM_CHECKS", "AlgorithmReport", "ContractViolation", "OperatorReport", "Script",
           "check_algorithm", "check_operator"]

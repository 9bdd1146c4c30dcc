"""A user-written mutation inside evoautodl's algorithms, under the runner, MPI and resume.

``cauchy_mutation`` is a heavy-tailed mutation written as an evoautodl
operator, ``op(space, genome, rng, **params) -> child``: pure (the parent is
left untouched), randomness only from ``rng``, and it ends in
``space.repair`` so every child decodes to a valid configuration.
``declare`` says it takes one parent and returns one child; every algorithm
checks that when it is built.

From an experiment file (this folder on PYTHONPATH)::

    [algorithm]
    name = "asha_ea"
    mutation = "custom_operator:cauchy_mutation"
    mutation_params = {scale = 0.05}

    PYTHONPATH=examples mpiexec -n 3 evoautodl run examples/custom_operator_asha.toml --out runs/cauchy
    PYTHONPATH=examples mpiexec -n 3 evoautodl resume runs/cauchy --max-evaluations 160

The log's ``operator`` column then reads ``cauchy_mutation`` and
``crossover+cauchy_mutation`` (and ``sample`` / ``promote``).

From Python (this script)::

    python examples/custom_operator.py --out runs/cauchy-ga

checks the operator (``evoautodl.testing.check_operator``), runs the GA with
it through the Runner in a run directory, stops halfway and resumes, counts
the log's operator column, and plugs a DEAP toolbox's registered mutation
(``deap.tools.mutPolynomialBounded``) into the steady-state EA.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from evoautodl.operators import declare


@declare(arity=1, n_children=1, kind="mutation")
def cauchy_mutation(space: Any, genome: Any, rng: np.random.Generator, *, scale: float = 0.05,
                    gene_prob: float = 0.4) -> np.ndarray:
    """Add Cauchy(0, scale) noise to each gene with probability ``gene_prob`` (at least one gene), then repair."""
    child = np.array(genome, dtype=np.float64)  # a copy: the parent stays as it is
    hit = rng.random(space.dim) < gene_prob
    hit[int(rng.integers(space.dim))] = True
    child[hit] += scale * rng.standard_cauchy(int(hit.sum()))
    return space.repair(child, rng)


def operator_counts(run_dir: Path) -> Counter[str]:
    from evoautodl import load_run

    return Counter(load_run(run_dir)["operator"])


def main(argv: list[str] | None = None) -> int:
    from deap import tools

    from evoautodl import Runner, SerialBackend, StopCriteria, get_algorithm
    from evoautodl.operators import make_toolbox
    from evoautodl.testing import check_operator
    from evoautodl.workloads.synthetic import MixedRastrigin

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="run directory of the GA run (default: a temporary one)")
    parser.add_argument("--evaluations", type=int, default=80)
    args = parser.parse_args(argv)

    workload = MixedRastrigin(max_budget=9)
    space = workload.search_space()
    print(check_operator(cauchy_mutation, space, params={"scale": 0.05}))

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.out) if args.out else Path(tmp) / "cauchy-ga"

        def ga() -> Any:
            # named as in an experiment file: the state (state.pkl) refers to the function by its module
            return get_algorithm("ga", space, seed=0, max_budget=workload.max_budget, population_size=8,
                                 mutation="custom_operator:cauchy_mutation", mutation_params={"scale": 0.05})

        half = Runner(ga(), SerialBackend(workload), run_dir=run_dir,
                      stop=StopCriteria(max_evaluations=args.evaluations // 2)).run()
        done = Runner(ga(), SerialBackend(workload), run_dir=run_dir, resume=True,
                      stop=StopCriteria(max_evaluations=args.evaluations)).run()
        print(f"ga + cauchy_mutation: {half.n_evaluations} evaluations, resumed to {done.n_evaluations}, "
              f"best {done.best.objective:.4f}")
        print("operator column:", dict(sorted(operator_counts(run_dir).items())))

        toolbox = make_toolbox(space, np.random.default_rng(0))
        toolbox.register("mutate", tools.mutPolynomialBounded, eta=20.0, low=0.0, up=1.0, indpb=0.3)
        algo = get_algorithm("steady_state", space, seed=0, max_budget=workload.max_budget, population_size=8,
                             mutation=toolbox.mutate, crossover=toolbox.mate)
        deap_dir = Path(tmp) / "deap-steady-state"
        summary = Runner(algo, SerialBackend(workload), run_dir=deap_dir,
                         stop=StopCriteria(max_evaluations=args.evaluations // 2)).run()
        print(f"steady_state + toolbox.mutate (DEAP mutPolynomialBounded): {summary.n_evaluations} evaluations, "
              f"best {summary.best.objective:.4f}")
        print("operator column:", dict(sorted(operator_counts(deap_dir).items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What a local Dask cluster's fork server loads once, before it forks each worker process
(``cdw.flows.partitioned.local_cluster``): the engine's modules and Numba's compiler
(registries it otherwise loads at a process's first kernel, about 0.5 CPU-s), so that a
worker starts with both in place instead of importing and initialising them itself."""

from numba.core.registry import cpu_target

import cdw.flows.partitioned  # noqa: F401  (the tasks' code)

cpu_target.target_context.refresh()

"""What a local Dask cluster's fork server does once, before it forks each worker process
(``cdw.flows.partitioned.local_cluster``), so that every worker starts with it in place
instead of doing it itself:

1. load the engine's modules and Numba's compiler (registries it otherwise loads at a
   process's first kernel, about 0.5 CPU-s);
2. build the run's context from the file the coordinator names (``LOCAL_CONTEXT_ENV``:
   ``ContextFile``), the road network's indexes with it, and load the engine's kernels from
   Numba's cache (``load_cached_kernels``): about 0.6-0.9 CPU-s a worker, and one matcher's
   tables in memory for all of them;
3. freeze what it holds out of the workers' garbage collections (``gc.freeze``).

Nothing here may run polars: its thread pool would not survive the fork."""

import gc
import logging
import os
import sys

from numba.core.dispatcher import Dispatcher
from numba.core.registry import cpu_target

from cdw.flows.partitioned import LOCAL_CONTEXT_ENV, ContextFile

logger = logging.getLogger(__name__)


def load_cached_kernels(prefix: str = "cdw.") -> int:
    """Load now, as a first call would, every signature of the kernels of the loaded modules
    under ``prefix`` that Numba's on-disk cache holds for this machine; the number loaded.
    Numba has no public call for this: its cache index is read through private names, and
    where they are missing nothing is loaded here (the kernels then load at first call)."""
    magic = cpu_target.target_context.codegen().magic_tuple()
    loaded = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith(prefix) or module is None:
            continue
        for kernel in list(vars(module).values()):
            if not isinstance(kernel, Dispatcher):
                continue
            index = getattr(getattr(kernel._cache, "_cache_file", None), "_load_index", None)
            if index is None:
                continue
            for key in index():
                # (signature, machine, source stamp): another machine's entry would compile
                if key[1] == magic and key[0] not in kernel.overloads:
                    kernel.compile(key[0])
                    loaded += 1
    return loaded


def prebuild(path: str | None) -> None:
    """The context of the file at ``path`` built in this process, its road indexes with it,
    and the engine's kernels loaded; a failure is logged and leaves each worker to build the
    context at its first task (where the same failure is reported as the task's)."""
    if not path:
        return
    try:
        context = ContextFile(path).context()
        if context.roads is not None:
            context.roads.build_indexes()
        load_cached_kernels()
    except Exception:
        logger.warning("上下文未能预先构建 / the context could not be built ahead", exc_info=True)


cpu_target.target_context.refresh()
prebuild(os.environ.get(LOCAL_CONTEXT_ENV))
# What the workers inherit is left out of their garbage collections (gc.freeze before fork, as
# Python's documentation advises): a collection would walk every object of the engine and
# the context, and write to each one's page (a copy per worker).
gc.freeze()

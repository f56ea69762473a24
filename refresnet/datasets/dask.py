"""Scale-out on a Dask cluster (optional extra ``refresnet[dask]``): batches as
tasks, results handed back in input order."""

import os
import uuid

from ..errors import MissingExtraError, ResultsError
from .worker import run_batch

# Batches in flight on a cluster per worker thread: enough to keep every worker busy
# while results come back, and a bound on the results waiting for their turn.
TASKS_PER_THREAD = 2
DASK_INSTALL = "pip install 'refresnet[dask]' (dask.distributed)"


def dask_available():
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def need_dask(workers, scheduler, client):
    if client is None and workers is None and scheduler is None:
        return False
    if workers is not None and scheduler is not None:
        raise ValueError("--workers starts a local cluster and --scheduler joins one: give one of them")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if client is None and not dask_available():
        what = f"--workers {workers}" if workers is not None else f"--scheduler {scheduler}"
        raise MissingExtraError(f"{what} needs Dask, which is not installed: {DASK_INSTALL}")
    return True


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def local_cluster(workers):
    """A LocalCluster of ``workers`` processes with one task thread each; each process
    computes with an equal share of this machine's CPUs."""
    import logging

    from distributed import LocalCluster

    share = max(1, _cpus() // workers)
    # distributed/distributed.yaml (nanny.pre-spawn-environ) already starts workers
    # with OPENBLAS_NUM_THREADS=1; refresnet's own thread count is set the same way.
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=logging.ERROR, env={"REFRESNET_NUM_THREADS": str(share)})


def _run_on_dask(spec, batches, write, workers, scheduler, client):
    """Run every batch on the cluster and hand the results to ``write`` in order."""
    from distributed import Client, as_completed

    cluster = own_client = None
    try:
        if client is None:
            if workers is not None:
                cluster = local_cluster(workers)
                own_client = Client(cluster)
            else:
                try:
                    own_client = Client(scheduler, timeout="30s")
                except (OSError, TimeoutError) as err:
                    raise ResultsError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({err})") from None
            client = own_client
        token = uuid.uuid4().hex[:12]
        threads = sum(client.nthreads().values()) or 1
        window = max(2, TASKS_PER_THREAD * threads)
        inflight, ready = {}, {}
        state = {"submitted": 0, "written": 0}
        running = as_completed()

        def submit():
            while state["submitted"] < len(batches) and state["submitted"] < state["written"] + window:
                j = state["submitted"]
                fut = client.submit(run_batch, spec, batches[j], key=f"refresnet-batch-{token}-{j}", pure=False)
                inflight[fut.key] = (j, fut)
                running.add(fut)
                state["submitted"] += 1

        submit()
        try:
            for fut in running:
                j, _ = inflight.pop(fut.key)
                try:
                    ready[j] = fut.result()
                except ValueError:  # refresnet's own errors (ResultsError, LoadError) carry their message
                    raise
                except Exception as err:
                    raise ResultsError(
                        f"the cluster gave up on batch {j} ({batches[j][0]} ...): {type(err).__name__}: {err}"
                    ) from None
                fut.release()
                while state["written"] in ready:
                    write(ready.pop(state["written"]))
                    state["written"] += 1
                submit()
        finally:
            if inflight:
                client.cancel([f for _, f in inflight.values()])
    finally:
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()

/*!
 * \file threads.h
 * \brief How many threads a run uses, and telling TVM's thread pool.
 *
 * TVM 0.27 keeps one parallel thread pool per calling thread (ThreadPool::ThreadLocal): the
 * thread that calls `Run` acts as worker 0 and the pool adds `n - 1` workers of its own. Its
 * capacity is fixed when the pool is first used on a thread, from `TVM_NUM_THREADS` (else
 * `OMP_NUM_THREADS`, else TVM's guess, which is half the logical CPUs on x86: 1 on a 2-core
 * machine). `runtime.config_threadpool(1, n)` (mode 1 = "big cores", i.e. every core on a
 * homogeneous CPU) then selects `min(n, capacity)` workers for that thread's pool only.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_THREADS_H_
#define EMBER_RUNTIME_CPP_SRC_THREADS_H_

namespace ember {

/*! \brief CPUs this process may run on (sched_getaffinity), at least 1. */
int AvailableCpus();

/*!
 * \brief Resolve the thread count: `requested` if > 0, else `$EMBER_NUM_THREADS`, else
 *        `AvailableCpus()`; then capped at the pool capacity. Also fixes that capacity (sets
 *        `TVM_NUM_THREADS` once, before any pool exists, unless the user set it).
 */
int ResolveNumThreads(int requested);

/*!
 * \brief Make the calling thread's TVM pool use `num_threads` threads. Cached per thread:
 *        TVM is only called when the count differs from the last one applied on this thread.
 */
void ApplyNumThreads(int num_threads);

/*!
 * \brief The count `ApplyNumThreads` last applied on the calling thread, 0 if none. Also the
 *        global function `ember.runtime.pool_threads`, which the kernel plugins read.
 */
int AppliedNumThreads();

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_THREADS_H_

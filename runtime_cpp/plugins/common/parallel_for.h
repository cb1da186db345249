/*!
 * \file parallel_for.h
 * \brief Run work items on TVM's thread pool, the same pool the model's own kernels use.
 *
 * Library calls (OpenBLAS, oneDNN) are made single-threaded and spread over TVM's pool, so one
 * process never runs two spinning pools against each other on the same cores.
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_COMMON_PARALLEL_FOR_H_
#define EMBER_RUNTIME_CPP_PLUGINS_COMMON_PARALLEL_FOR_H_

#include <cstdint>
#include <functional>

namespace ember {
namespace plugins {

/*!
 * \brief Call `body(begin, end)` on disjoint chunks covering [0, count), in parallel on the
 *        calling thread's TVM pool (serially if the pool cannot be found).
 * \param min_chunk the smallest chunk worth a task.
 */
void ParallelFor(int64_t count, int64_t min_chunk,
                 const std::function<void(int64_t, int64_t)>& body);

/*!
 * \brief Threads of the calling thread's TVM pool (1 without one): the tasks `ParallelFor`
 *        runs at once. As Ember's runtime applied it (`ember.runtime.pool_threads`), else
 *        (TVM has no query for it) counted by one empty launch.
 */
int ParallelThreads();

}  // namespace plugins
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_COMMON_PARALLEL_FOR_H_

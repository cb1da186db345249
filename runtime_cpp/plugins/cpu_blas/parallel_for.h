/*!
 * \file parallel_for.h
 * \brief Run work items on TVM's thread pool, the same pool the model's own kernels use.
 *
 * BLAS calls are made single-threaded and spread over TVM's pool, so one process never runs
 * two spinning pools (TVM's and OpenBLAS's) against each other on the same cores.
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_CPU_BLAS_PARALLEL_FOR_H_
#define EMBER_RUNTIME_CPP_PLUGINS_CPU_BLAS_PARALLEL_FOR_H_

#include <cstdint>
#include <functional>

namespace ember {
namespace blas {

/*!
 * \brief Call `body(begin, end)` on disjoint chunks covering [0, count), in parallel on the
 *        calling thread's TVM pool (serially if the pool cannot be found).
 * \param min_chunk the smallest chunk worth a task.
 */
void ParallelFor(int64_t count, int64_t min_chunk,
                 const std::function<void(int64_t, int64_t)>& body);

}  // namespace blas
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_CPU_BLAS_PARALLEL_FOR_H_

/*!
 * \file validate.h
 * \brief Check run inputs against the manifest before any kernel runs.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_VALIDATE_H_
#define EMBER_RUNTIME_CPP_SRC_VALIDATE_H_

#include <ember/runtime.h>

#include <string>
#include <utility>
#include <vector>

namespace ember {

/*!
 * \brief Put named inputs in manifest order.
 * \throws Error kInvalidArgument: unknown, missing or repeated names, or a wrong count.
 */
std::vector<Tensor> OrderByName(const std::vector<TensorSpec>& specs,
                                const std::vector<std::pair<std::string, Tensor>>& named);

/*!
 * \brief Check count, dtype, shape (symbolic dimensions consistent across inputs), device and
 *        contiguity of `inputs` (manifest order).
 * \throws Error kInvalidArgument with a message such as
 *         "input 'x': expected shape [1, 3, 224, 224], got [1, 3, 224, 225]".
 */
void ValidateInputs(const std::vector<TensorSpec>& specs, const std::vector<Tensor>& inputs,
                    Device device);

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_VALIDATE_H_

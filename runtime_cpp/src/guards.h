/*!
 * \file guards.h
 * \brief The run-time checks compiled models call (see `compiler/passes/insert_guards.py`).
 *
 * A model calls `ember.guard.shape(value, condition, message, values...)` where its operators
 * relate symbolic dimensions (MatMul's inner dimensions, broadcasting, ...) and
 * `ember.guard.indices(indices, min, max, data_shape, axes, allow_negative, what)` before a
 * gather or scatter with run-time indices. Both return their first argument, or throw a
 * `tvm::ffi::Error` of kind `kGuardErrorKind`, which `Model::Run` reports as one
 * `kInvalidArgument` line.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_GUARDS_H_
#define EMBER_RUNTIME_CPP_SRC_GUARDS_H_

namespace ember {

/*! \brief The kind of the errors the guards raise. */
inline constexpr const char* kGuardErrorKind = "EmberInputError";

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_GUARDS_H_

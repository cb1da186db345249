/*!
 * \file errors.h
 * \brief Helpers that build `ember::Error`s and translate TVM's errors into them.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_ERRORS_H_
#define EMBER_RUNTIME_CPP_SRC_ERRORS_H_

#include <ember/runtime.h>
#include <tvm/ffi/error.h>

#include <exception>
#include <sstream>
#include <string>
#include <utility>

namespace ember {

/*! \brief Concatenate streamable parts into one message. */
template <typename... Parts>
std::string Concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}

/*! \brief Throw an `Error` whose message is the concatenation of `parts`. */
template <typename... Parts>
[[noreturn]] void Fail(ErrorCode code, Parts&&... parts) {
  throw Error(code, Concat(std::forward<Parts>(parts)...));
}

/*! \brief The first non-empty line of `text`, trimmed; TVM messages carry tracebacks after it. */
std::string FirstLine(const std::string& text);

/*!
 * \brief Run `fn`, turning any `tvm::ffi::Error` or `std::exception` (other than `ember::Error`)
 *        into an `ember::Error` with `code` and the message prefixed by `context`.
 */
template <typename Fn>
auto Translate(ErrorCode code, const std::string& context, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (const tvm::ffi::Error& e) {
    // what() holds the whole traceback; users get the kind and the first line of the message.
    throw Error(code, Concat(context, ": ", e.kind(), ": ", FirstLine(e.message())));
  } catch (const std::exception& e) {
    throw Error(code, Concat(context, ": ", FirstLine(e.what())));
  }
}

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_ERRORS_H_

/*!
 * \file ember/export.h
 * \brief Symbol visibility of Ember's public API, the way tvm-ffi's `TVM_FFI_DLL` does it.
 *
 * The library is built with `EMBER_EXPORTS` defined, so on Windows its symbols are exported
 * while callers (who never define it) import them; elsewhere they have default visibility,
 * since the library hides everything else (`-fvisibility=hidden`).
 */
#ifndef EMBER_EXPORT_H_
#define EMBER_EXPORT_H_

#if defined(_WIN32)
#ifdef EMBER_EXPORTS
#define EMBER_API __declspec(dllexport)
#else
#define EMBER_API __declspec(dllimport)
#endif
#else
#define EMBER_API __attribute__((visibility("default")))
#endif

/*! \brief The C ABI's functions: the same visibility as the C++ API's. */
#define EMBER_C_API EMBER_API

#endif  // EMBER_EXPORT_H_

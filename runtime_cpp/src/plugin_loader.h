/*!
 * \file plugin_loader.h
 * \brief Load the kernel plugins an artifact names (e.g. OpenBLAS-backed GEMM and conv).
 *
 * Compiled models call plugin kernels by name (`call_dps_packed("ember.cpu.matmul")`); the
 * names resolve when the plugin library registers them, so it must be loaded before the model
 * runs. Plugins are loaded once per process and only when an artifact needs them.
 *
 * A plugin whose library cannot load (a system library it needs is missing) or that the user
 * turned off may have a stand-in: another plugin that registers the same names on its own
 * kernels. The model then runs, slower, and one line on stderr says which and why.
 */
#ifndef EMBER_RUNTIME_CPP_SRC_PLUGIN_LOADER_H_
#define EMBER_RUNTIME_CPP_SRC_PLUGIN_LOADER_H_

#include <string>
#include <vector>

namespace ember {

/*!
 * \brief Load `libember_<name>.so` from the runtime's own folder for each name.
 * \param artifact names the artifact in messages.
 * \throws Error kIncompatible when a plugin cannot be loaded and has no stand-in that can.
 */
void EnsurePluginsLoaded(const std::vector<std::string>& names, const std::string& artifact);

}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_SRC_PLUGIN_LOADER_H_

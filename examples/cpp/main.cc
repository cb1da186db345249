// ember_run: load a compiled model, run it on .npy inputs, write .npy outputs.
//
//   ember_run MODEL.so OUTPUT_DIR INPUT0.npy [INPUT1.npy ...]
//
// Inputs are given in the model's input order; outputs are written as
// OUTPUT_DIR/output_0.npy, output_1.npy, ... in the model's output order.
#include <ember/runtime.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "npy.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.so OUTPUT_DIR INPUT0.npy [INPUT1.npy ...]\n", argv[0]);
    return 2;
  }
  try {
    // Load verifies the file (checksum, CPU features, device) before running any of its code.
    ember::Model model = ember::Model::Load(argv[1]);

    std::vector<ember::Tensor> inputs;
    for (int i = 3; i < argc; ++i) inputs.push_back(npy::Read(argv[i]));

    // Run validates names, dtypes and shapes; it may be called from many threads at once.
    std::vector<ember::Tensor> outputs = model.Run(inputs);

    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string path = std::string(argv[2]) + "/output_" + std::to_string(i) + ".npy";
      npy::Write(path, outputs[i]);
      std::printf("%s -> %s\n", model.outputs()[i].name.c_str(), path.c_str());
    }
    return 0;
  } catch (const std::exception& e) {  // ember::Error, or a bad .npy file
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

// Many threads running one ember::Model must get exactly the single-threaded results.
// Usage: thread_safety_test [MODEL.so [THREADS=8 [RUNS=500]]]  (default: $EMBER_TEST_MODEL)
#include <ember/runtime.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kSymbolicExtent = 2;  // the value every symbolic dimension takes

DLDataType ParseDtype(const std::string& name) {
  if (name == "bool") return DLDataType{kDLBool, 8, 1};
  const struct {
    const char* prefix;
    uint8_t code;
  } kinds[] = {{"float", kDLFloat}, {"uint", kDLUInt}, {"int", kDLInt}};
  for (const auto& k : kinds) {
    if (name.rfind(k.prefix, 0) == 0) {
      return DLDataType{k.code,
                        static_cast<uint8_t>(std::atoi(name.c_str() + std::strlen(k.prefix))), 1};
    }
  }
  throw std::runtime_error("unsupported dtype " + name);
}

// Deterministic, small values of any dtype (so every model sees a valid input).
void Fill(const ember::Tensor& t, int seed) {
  size_t n = t.nbytes() / (t.dtype().bits / 8);
  for (size_t i = 0; i < n; ++i) {
    double v = std::sin(0.1 * static_cast<double>(i) + seed);
    auto* p = static_cast<char*>(t.data());
    DLDataType d = t.dtype();
    if (d.code == kDLFloat && d.bits == 32)
      reinterpret_cast<float*>(p)[i] = static_cast<float>(v);
    else if (d.code == kDLFloat && d.bits == 64)
      reinterpret_cast<double*>(p)[i] = v;
    else if (d.bits == 64)
      reinterpret_cast<int64_t*>(p)[i] = static_cast<int64_t>(i % 3);
    else if (d.bits == 32)
      reinterpret_cast<int32_t*>(p)[i] = static_cast<int32_t>(i % 3);
    else if (d.bits == 8)
      reinterpret_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(i % 2);
    else
      std::memset(p, 0, t.nbytes());
  }
}

std::vector<ember::Tensor> MakeInputs(const ember::Model& model) {
  std::vector<ember::Tensor> inputs;
  for (const ember::TensorSpec& spec : model.inputs()) {
    std::vector<int64_t> shape = spec.shape;
    for (int64_t& d : shape) d = d < 0 ? kSymbolicExtent : d;
    inputs.push_back(ember::Tensor::Empty(shape, ParseDtype(spec.dtype)));
    Fill(inputs.back(), static_cast<int>(inputs.size()));
  }
  return inputs;
}

bool Same(const ember::Tensor& a, const ember::Tensor& b) {
  if (a.shape() != b.shape() || a.nbytes() != b.nbytes()) return false;
  if (a.dtype().code != kDLFloat || a.dtype().bits != 32) {
    return std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
  }
  auto* x = static_cast<const float*>(a.data());
  auto* y = static_cast<const float*>(b.data());
  for (size_t i = 0; i < a.nbytes() / 4; ++i) {
    if (!(std::fabs(x[i] - y[i]) <= 1e-6f)) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 && *argv[1] ? argv[1] : std::getenv("EMBER_TEST_MODEL");
  if (path == nullptr || *path == '\0') {
    std::fprintf(stderr, "usage: thread_safety_test MODEL.so (or set EMBER_TEST_MODEL)\n");
    return 2;
  }
  const int kThreads = argc > 2 ? std::atoi(argv[2]) : 8;
  const int kRunsPerThread = argc > 3 ? std::atoi(argv[3]) : 500;
  try {
    ember::Model model = ember::Model::Load(path);
    std::vector<ember::Tensor> inputs = MakeInputs(model);
    std::vector<ember::Tensor> reference = model.Run(inputs);
    std::atomic<int> mismatches{0}, runs{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int r = 0; r < kRunsPerThread; ++r) {
          std::vector<ember::Tensor> out = model.Run(inputs);
          for (size_t i = 0; i < out.size(); ++i) mismatches += Same(out[i], reference[i]) ? 0 : 1;
          ++runs;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    std::printf("%d runs on %d threads (%d threads each), %d mismatching outputs\n", runs.load(),
                kThreads, model.num_threads(), mismatches.load());
    return mismatches == 0 && runs == kThreads * kRunsPerThread ? 0 : 1;
  } catch (const ember::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

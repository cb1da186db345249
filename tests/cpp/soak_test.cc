// Memory stays flat: RUNS inferences with resident memory (RSS) growing less than 1% after
// warm-up, every output equal to the first; then LOADS load/unload cycles of the same model
// with RSS growth below a bound that a leaked model (library, VM, weights) would exceed.
// Usage: soak_test MODEL.so [RUNS=10000] [LOADS=1000]. Every input is float32 with symbolic
// dimensions set to 2.
#include <ember/runtime.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBER_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define EMBER_UNDER_ASAN 1
#endif

namespace {

#ifdef EMBER_UNDER_ASAN
// AddressSanitizer quarantines freed memory, so RSS grows by design; LeakSanitizer checks
// for leaks at exit instead.
constexpr bool kCheckRss = false;
#else
constexpr bool kCheckRss = true;
#endif

// Warm-up share of each phase: pools, allocator arenas and caches fill during it.
constexpr int kWarmupPercent = 10;
// A leak of one model per load (its VM, constants and library mapping) exceeds this.
constexpr double kLoadGrowthLimitKb = 4096;

double RssKb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1024.0;
}

std::vector<ember::Tensor> MakeInputs(const ember::Model& model) {
  std::vector<ember::Tensor> inputs;
  for (const ember::TensorSpec& spec : model.inputs()) {
    std::vector<int64_t> shape = spec.shape;
    for (int64_t& d : shape) d = d < 0 ? 2 : d;
    inputs.push_back(ember::Tensor::Empty(shape, DLDataType{kDLFloat, 32, 1}));
    auto* p = static_cast<float*>(inputs.back().data());
    for (size_t i = 0; i < inputs.back().nbytes() / 4; ++i) p[i] = 0.01f * static_cast<float>(i);
  }
  return inputs;
}

bool SameBytes(const std::vector<ember::Tensor>& a, const std::vector<ember::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].nbytes() != b[i].nbytes() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].nbytes()) != 0) {
      return false;
    }
  }
  return true;
}

bool SoakRuns(const char* path, int runs) {
  ember::Model model = ember::Model::Load(path);
  std::vector<ember::Tensor> inputs = MakeInputs(model);
  std::vector<ember::Tensor> first = model.Run(inputs);
  int warmup = runs * kWarmupPercent / 100, mismatches = 0;
  double after_warmup = RssKb();  // the first read allocates the stream's buffers
  for (int r = 0; r < runs; ++r) {
    if (r == warmup) after_warmup = RssKb();
    mismatches += SameBytes(model.Run(inputs), first) ? 0 : 1;
  }
  double growth = (RssKb() - after_warmup) / after_warmup * 100.0;
  std::printf("soak: %d runs, RSS %.0f kB after warm-up, growth %.3f%%, %d mismatches\n", runs,
              after_warmup, growth, mismatches);
  return (growth < 1.0 || !kCheckRss) && mismatches == 0;
}

bool LoadUnload(const char* path, int loads) {
  int warmup = loads * kWarmupPercent / 100;
  double after_warmup = 0;
  for (int i = 0; i < loads; ++i) {
    if (i == warmup) after_warmup = RssKb();
    ember::Model model = ember::Model::Load(path);
    if (i % 100 == 0 && model.Run(MakeInputs(model)).empty()) return false;
  }
  double growth = RssKb() - after_warmup;
  std::printf("load/unload: %d cycles, RSS %.0f kB after warm-up, growth %.0f kB (limit %.0f)\n",
              loads, after_warmup, growth, kLoadGrowthLimitKb);
  return growth < kLoadGrowthLimitKb || !kCheckRss;
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 && *argv[1] ? argv[1] : std::getenv("EMBER_TEST_SYMBOLIC_MODEL");
  if (path == nullptr || *path == '\0') {
    std::fprintf(stderr, "usage: soak_test MODEL.so [RUNS] [LOADS]\n");
    return 2;
  }
  int runs = argc > 2 ? std::atoi(argv[2]) : 10000;
  int loads = argc > 3 ? std::atoi(argv[3]) : 1000;
  if (!kCheckRss) std::printf("soak: RSS not checked under AddressSanitizer (LeakSanitizer is)\n");
  try {
    bool ok = SoakRuns(path, runs);
    ok = LoadUnload(path, loads) && ok;
    return ok ? 0 : 1;
  } catch (const ember::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

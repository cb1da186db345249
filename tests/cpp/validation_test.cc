// Run-time input validation through the C++ API and the C ABI: count, names, dtypes, shapes
// (symbolic dimensions consistent across inputs), device, strides, NULL pointers. Every bad
// call must fail with kInvalidArgument and a message naming the input, before any kernel runs.
// Usage: validation_test MODEL.so, where MODEL takes a, b: float32[batch, 4] (the pytest
// driver in tests/reliability compiles it).
#include <ember/c_api.h>
#include <ember/runtime.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace {

int g_failures = 0;

void Expect(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what.c_str());
    ++g_failures;
  }
}

// `fn` must throw ember::Error kInvalidArgument whose message contains `needle`.
void ExpectInvalid(const std::string& what, const std::function<void()>& fn,
                   const std::string& needle) {
  try {
    fn();
    Expect(false, what + ": no error");
  } catch (const ember::Error& e) {
    std::string msg = e.what();
    Expect(e.code() == ember::ErrorCode::kInvalidArgument, what + ": code of '" + msg + "'");
    Expect(msg.find(needle) != std::string::npos, what + ": '" + msg + "' lacks '" + needle + "'");
    Expect(msg.find('\n') == std::string::npos, what + ": message is not one line");
  }
}

// A float32 tensor over caller-owned storage, with optional strides, device and offset.
struct Buffer {
  std::vector<float> data = std::vector<float>(64, 1.0f);
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  DLTensor dl{};
  Buffer(std::vector<int64_t> s, DLDataType dtype = {kDLFloat, 32, 1}) : shape(std::move(s)) {
    dl.data = data.data();
    dl.device = {kDLCPU, 0};
    dl.ndim = static_cast<int>(shape.size());
    dl.dtype = dtype;
    dl.shape = shape.data();
  }
  ember::Tensor View() const { return ember::Tensor::View(dl); }
};

void TestCppApi(const ember::Model& model) {
  Buffer a({2, 4}), b({2, 4});
  Expect(model.Run({a.View(), b.View()}).size() == 1, "a valid run");
  ExpectInvalid(
      "count", [&] { model.Run({a.View()}); }, "expected 2 inputs, got 1");
  ExpectInvalid(
      "unknown name",
      [&] {
        model.Run({{"a", a.View()}, {"c", b.View()}});
      },
      "unknown input 'c'");
  ExpectInvalid(
      "twice",
      [&] {
        model.Run({{"a", a.View()}, {"a", b.View()}});
      },
      "input 'a' given twice");
  ExpectInvalid(
      "missing",
      [&] {
        model.Run({{"a", a.View()}});
      },
      "missing input 'b'");
  Buffer f64({2, 4}, {kDLFloat, 64, 1});
  ExpectInvalid(
      "dtype",
      [&] {
        model.Run({a.View(), f64.View()});
      },
      "input 'b': expected dtype float32, got float64");
  Buffer wide({2, 5}), deep({2, 4, 1}), batch3({3, 4}), negative({-1, 4});
  ExpectInvalid(
      "extent",
      [&] {
        model.Run({a.View(), wide.View()});
      },
      "input 'b': expected shape [batch, 4], got [2, 5]");
  ExpectInvalid(
      "rank",
      [&] {
        model.Run({a.View(), deep.View()});
      },
      "got [2, 4, 1]");
  ExpectInvalid(
      "symbol",
      [&] {
        model.Run({a.View(), batch3.View()});
      },
      "input 'b': dimension 0 ('batch') is 3 but dimension 0 of input 'a' set it to 2");
  ExpectInvalid(
      "negative",
      [&] {
        model.Run({negative.View(), negative.View()});
      },
      "input 'a': dimension 0 is -1");
  Buffer gpu({2, 4});
  gpu.dl.device = {kDLCUDA, 0};
  ExpectInvalid(
      "device",
      [&] {
        model.Run({a.View(), gpu.View()});
      },
      "input 'b': expected device cpu:0, got cuda:0");
  Buffer column({2, 4});
  column.strides = {1, 2};
  column.dl.strides = column.strides.data();
  ExpectInvalid(
      "strides",
      [&] {
        model.Run({column.View(), b.View()});
      },
      "input 'a': not contiguous");
  ExpectInvalid(
      "undefined",
      [&] {
        model.Run({ember::Tensor(), b.View()});
      },
      "input 'a' is undefined");
  Buffer null({2, 4});
  null.dl.data = nullptr;
  ExpectInvalid(
      "null data",
      [&] {
        model.Run({a.View(), null.View()});
      },
      "input 'b': data pointer is NULL");
  DLTensor no_shape = a.dl;
  no_shape.shape = nullptr;
  ExpectInvalid(
      "null shape", [&] { ember::Tensor::View(no_shape); }, "NULL shape");
}

// Accepted layouts: compact explicit strides, misaligned data, an empty batch.
void TestAcceptedLayouts(const ember::Model& model) {
  Buffer a({2, 4}), b({2, 4});
  b.strides = {4, 1};
  b.dl.strides = b.strides.data();
  for (int i = 0; i < 8; ++i) a.data[i + 1] = static_cast<float>(i);
  a.dl.byte_offset = sizeof(float);  // misaligned: the runtime copies it
  std::vector<ember::Tensor> out = model.Run({a.View(), b.View()});
  Expect(out.size() == 1 && out[0].shape()[0] == 2, "strided + misaligned run");
  Buffer e({0, 4}), f({0, 4});
  e.strides = {0, 0};  // what numpy reports for an empty array
  e.dl.strides = e.strides.data();
  out = model.Run({e.View(), f.View()});
  Expect(out.size() == 1 && out[0].shape()[0] == 0, "empty batch");
}

void ExpectStatus(const std::string& what, int status, const std::string& needle) {
  std::string msg = ember_last_error();
  Expect(status == EMBER_INVALID_ARGUMENT, what + ": status " + std::to_string(status));
  Expect(msg.find(needle) != std::string::npos, what + ": '" + msg + "' lacks '" + needle + "'");
}

void TestCAbi(const char* path) {
  ember_model_t model = nullptr;
  Expect(ember_model_load(path, nullptr, &model) == EMBER_OK, "C load");
  Buffer a({2, 4}), b({2, 4}), wrong({3, 4}), f64({2, 4}, {kDLFloat, 64, 1});
  DLManagedTensorVersioned* sentinel = reinterpret_cast<DLManagedTensorVersioned*>(0x1);
  DLManagedTensorVersioned* out[1] = {sentinel};
  const DLTensor* good[2] = {&a.dl, &b.dl};
  const DLTensor* symbol[2] = {&a.dl, &wrong.dl};
  const DLTensor* dtype[2] = {&a.dl, &f64.dl};
  const DLTensor* null_input[2] = {&a.dl, nullptr};
  ExpectStatus("C count", ember_model_run(model, good, 1, out, 1), "expected 2 inputs, got 1");
  ExpectStatus("C symbol", ember_model_run(model, symbol, 2, out, 1), "dimension 0 ('batch')");
  ExpectStatus("C dtype", ember_model_run(model, dtype, 2, out, 1), "got float64");
  ExpectStatus("C null input", ember_model_run(model, null_input, 2, out, 1), "NULL");
  ExpectStatus("C outputs", ember_model_run(model, good, 2, out, 2), "room for 1 outputs");
  DLTensor no_shape = b.dl;
  no_shape.shape = nullptr;
  const DLTensor* shapeless[2] = {&a.dl, &no_shape};
  ExpectStatus("C null shape", ember_model_run(model, shapeless, 2, out, 1), "NULL shape");
  Expect(out[0] == sentinel, "C: a failed run wrote an output");
  Expect(ember_model_run(model, good, 2, out, 1) == EMBER_OK, "C valid run");
  if (out[0] != sentinel) out[0]->deleter(out[0]);
  ember_model_release(model);
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 && *argv[1] ? argv[1] : std::getenv("EMBER_TEST_SYMBOLIC_MODEL");
  if (path == nullptr || *path == '\0') {
    std::fprintf(stderr, "usage: validation_test MODEL.so (inputs a, b: float32[batch, 4])\n");
    return 2;
  }
  try {
    ember::Model model = ember::Model::Load(path);
    TestCppApi(model);
    TestAcceptedLayouts(model);
    TestCAbi(path);
  } catch (const ember::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  std::printf("validation_test: %d failures\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}

#include "epilogue.h"

#include <tvm/ffi/error.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ember {
namespace plugins {
namespace {

float BitsToFloat(int64_t bits) {
  const uint32_t word = static_cast<uint32_t>(bits);
  float value;
  std::memcpy(&value, &word, sizeof(value));
  return value;
}

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

float ApplyStep(const EpilogueStep& step, float x) {
  switch (step.kind) {
    case kClip:
      return std::min(std::max(x, step.alpha), step.beta);
    case kGeluErf:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case kGeluTanh: {
      const float inner = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
    case kSigmoid:
      return Sigmoid(x);
    case kLinear:
      return step.alpha * x + step.beta;
    case kRound:
      return std::nearbyint(x / step.alpha);
    default:  // kSilu; a residual is added by the caller's loop
      return x * Sigmoid(x);
  }
}

}  // namespace

EpilogueSpec EpilogueSpec::Decode(tvm::ffi::ShapeView attrs, size_t begin, const char* who) {
  EpilogueSpec e;
  if (attrs.size() <= begin) return e;
  e.bias = attrs[begin] != 0;
  const int64_t count = attrs.size() > begin + 1 ? attrs[begin + 1] : 0;
  const int64_t end = static_cast<int64_t>(begin) + 2 + 3 * count;
  const int64_t size = static_cast<int64_t>(attrs.size());
  if (count < 0 || size < end) {
    TVM_FFI_THROW(ValueError) << who << ": malformed epilogue attributes";
  }
  if (size > end) {
    const int64_t compute = attrs[end];
    if (compute < kComputeF32 || compute > kComputeInt8) {
      TVM_FFI_THROW(ValueError) << who << ": unknown compute type " << compute;
    }
    const int64_t operands = compute == kComputeInt8 ? 3 : 0;
    // int8 may end with the output's grid too (an 8-bit output).
    const bool quantized_output = compute == kComputeInt8 && size == end + 1 + 2 * operands;
    if (size != end + 1 + operands && !quantized_output) {
      TVM_FFI_THROW(ValueError) << who << ": compute type " << compute << " takes " << operands
                                << " values after it, not " << size - end - 1;
    }
    e.compute = static_cast<ComputeType>(compute);
    if (compute == kComputeInt8) {
      e.source = {BitsToFloat(attrs[end + 1]), static_cast<int32_t>(attrs[end + 2]),
                  attrs[end + 3] != 0};
      if (!(e.source.scale > 0.0f) || !std::isfinite(e.source.scale)) {
        TVM_FFI_THROW(ValueError) << who << ": int8 source scale " << e.source.scale;
      }
      if (quantized_output) {
        e.quantized_output = true;
        e.output = {BitsToFloat(attrs[end + 4]), static_cast<int32_t>(attrs[end + 5]),
                    attrs[end + 6] != 0};
        if (!(e.output.scale > 0.0f) || !std::isfinite(e.output.scale)) {
          TVM_FFI_THROW(ValueError) << who << ": int8 output scale " << e.output.scale;
        }
      }
    }
  }
  for (int64_t i = 0; i < count; ++i) {
    EpilogueStep step{attrs[begin + 2 + 3 * i], BitsToFloat(attrs[begin + 3 + 3 * i]),
                      BitsToFloat(attrs[begin + 4 + 3 * i])};
    if (step.kind < kClip || step.kind > kRound) {
      TVM_FFI_THROW(ValueError) << who << ": unknown epilogue kind " << step.kind;
    }
    if (step.kind == kRound && !(step.alpha > 0.0f && std::isfinite(step.alpha))) {
      TVM_FFI_THROW(ValueError) << who << ": rounding to a grid of scale " << step.alpha;
    }
    if (step.kind == kSoftmax && i != count - 1) {
      TVM_FFI_THROW(ValueError) << who << ": a softmax must be the epilogue's last step";
    }
    e.steps.push_back(step);
  }
  return e;
}

void EpilogueSpec::Apply(float* out, int64_t r0, int64_t r1, int64_t cols, const float* bias,
                         const float* residual) const {
  for (int64_t r = r0; r < r1; ++r) {
    float* row = out + r * cols;
    if (this->bias) {
      for (int64_t c = 0; c < cols; ++c) row[c] += bias[c];
    }
    for (const EpilogueStep& step : steps) {
      if (step.kind == kResidual) {
        const float* add = residual + r * cols;
        for (int64_t c = 0; c < cols; ++c) row[c] += add[c];
      } else if (step.kind == kSoftmax) {
        SoftmaxRow(row, row, cols);
      } else {
        for (int64_t c = 0; c < cols; ++c) row[c] = ApplyStep(step, row[c]);
      }
    }
  }
}

int32_t SourceQuantization::Quantized(float x) const {
  const float low = is_signed ? -128.0f : 0.0f;
  const float q = std::nearbyint(x / scale) + static_cast<float>(zero);
  return static_cast<int32_t>(std::min(std::max(q, low), low + 255.0f));
}

float SourceQuantization::Dequantized(float x) const {
  return static_cast<float>(Quantized(x) - zero) * scale;
}

void SoftmaxRow(const float* x, float* y, int64_t width) {
  if (width == 0) return;
  const float top = *std::max_element(x, x + width);
  float sum = 0.0f;
  for (int64_t i = 0; i < width; ++i) sum += (y[i] = std::exp(x[i] - top));
  for (int64_t i = 0; i < width; ++i) y[i] /= sum;
}

}  // namespace plugins
}  // namespace ember

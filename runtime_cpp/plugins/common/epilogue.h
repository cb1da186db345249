/*!
 * \file epilogue.h
 * \brief The epilogue the compiler fuses into a library matmul or convolution: a bias per
 *        output channel, then activations and a residual add, in order.
 *
 * The compiler appends it to the call's attributes as [has_bias, count, (kind, alpha bits,
 * beta bits) x count], alpha and beta being float32 bit patterns
 * (compiler/passes/fuse_library_epilogues.py writes it), then optionally the type the kernel
 * computes in (ComputeType; absent is float32, as in artifacts that predate it:
 * compiler/passes/library_precision.py writes it; int8's source quantization follows it:
 * compiler/passes/quantized_library_calls.py). Every plugin that takes these calls reads it
 * here, so the encoding has one decoder.
 */
#ifndef EMBER_RUNTIME_CPP_PLUGINS_COMMON_EPILOGUE_H_
#define EMBER_RUNTIME_CPP_PLUGINS_COMMON_EPILOGUE_H_

#include <tvm/ffi/container/shape.h>

#include <cstdint>
#include <vector>

namespace ember {
namespace plugins {

/*! \brief What one epilogue step does to each output value. */
enum EpilogueKind : int64_t {
  kClip = 0,      //!< clip to [alpha, beta] (ReLU is [0, inf])
  kGeluErf = 1,   //!< GELU, erf form
  kGeluTanh = 2,  //!< GELU, tanh approximation
  kSigmoid = 3,
  kSilu = 4,      //!< x * sigmoid(x)
  kResidual = 5,  //!< add a tensor shaped like the output (at most one)
  kSoftmax = 6,   //!< softmax over each output row (last step only; matmuls only)
  kLinear = 7,    //!< alpha * x + beta (an integer product's scales, applied to its sums)
  //! round_half_even(x / alpha): a QDQ rounding to the grid of scale alpha, whose clip to the
  //! grid's integers (kClip) and scaling back (kLinear, alpha) follow as steps of their own
  kRound = 8,
};

/*!
 * \brief The type a matmul or convolution multiplies in; operands and output stay float32 and
 *        products are summed in float32 either way.
 */
enum ComputeType : int64_t {
  kComputeF32 = 0,
  kComputeBf16 = 1,  //!< operands rounded to bfloat16 (AMX, AVX512-BF16)
  //! The source quantized to 8 bits by the QuantizeLinear before the call (its scale, zero
  //! point and signedness follow the compute type), the constant weights per output channel
  //! (symmetric, int8), products summed in int32 and scaled back to float32 (AMX, VNNI).
  kComputeInt8 = 2,
};

/*!
 * \brief How an int8 call quantizes its float32 source: q = saturate(round_half_even(x /
 *        scale) + zero), in uint8 or (`is_signed`) int8; attributes [scale bits, zero,
 *        is_signed] after the compute type.
 */
struct SourceQuantization {
  float scale = 1.0f;
  int32_t zero = 0;
  bool is_signed = false;

  /*! \brief q: x on the grid, as QuantizeLinear gives it (saturated to 8 bits). */
  int32_t Quantized(float x) const;
  /*! \brief x rounded to the grid and back: (q - zero) * scale, as QuantizeLinear ->
   *         DequantizeLinear would give it. */
  float Dequantized(float x) const;
};

struct EpilogueStep {
  int64_t kind;
  float alpha, beta;
};

struct EpilogueSpec {
  bool bias = false;
  std::vector<EpilogueStep> steps;
  ComputeType compute = kComputeF32;
  SourceQuantization source;  //!< read with kComputeInt8 only
  //! kComputeInt8 only, optional: the output written as 8-bit on this grid (three more
  //! values: scale bits, zero, is_signed), for int8 calls that read it as their source.
  bool quantized_output = false;
  SourceQuantization output;

  /*! \brief Decode `attrs[begin:]` (an empty range is no epilogue); `who` names the caller. */
  static EpilogueSpec Decode(tvm::ffi::ShapeView attrs, size_t begin, const char* who);

  /*!
   * \brief Apply to rows [r0, r1) of a row-major [rows, cols] output in place: `bias` [cols]
   *        (when the spec has one), then the steps; `residual` is shaped like the output.
   */
  void Apply(float* out, int64_t r0, int64_t r1, int64_t cols, const float* bias,
             const float* residual) const;
};

/*! \brief y = softmax(x) over one row of `width` values (max, exponentials, scale). */
void SoftmaxRow(const float* x, float* y, int64_t width);

}  // namespace plugins
}  // namespace ember

#endif  // EMBER_RUNTIME_CPP_PLUGINS_COMMON_EPILOGUE_H_

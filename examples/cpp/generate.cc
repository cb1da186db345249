// ember_generate: greedy text generation with a key/value-cache decoder compiled once by Ember.
//
//   ember_generate MODEL.so TOKENS PROMPT_ID [PROMPT_ID ...]
//
// The decoder takes `input_ids` int64 [1, seq] and `past_k`/`past_v` float32 [layers, 1,
// kv_heads, past, head_dim] with symbolic `seq` and `past`, and returns logits [1, seq, vocab]
// and the grown caches (the layout `torch.onnx.export(dynamo=True)` gives a Llama-style
// model). One artifact runs the prefill (past = 0: empty caches) and every decode step; the
// caches a step returns are the next step's inputs as they are, without a copy. Prints the
// TOKENS generated ids on one line.
#include <ember/runtime.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// `text` as a whole number, or an error naming `what` it should have been.
int64_t ParseInteger(const char* text, const char* what) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || text[used] != '\0') {
    throw std::runtime_error(std::string(what) + " '" + text + "' is not a whole number");
  }
  return value;
}

// The position of the largest logit in the last row of `logits` [1, seq, vocab].
int64_t LastRowArgmax(const ember::Tensor& logits) {
  const DLTensor& t = logits.dl_tensor();
  if (t.ndim != 3 || t.dtype.code != kDLFloat || t.dtype.bits != 32) {
    throw std::runtime_error("the decoder's first output is not float32 logits [1, seq, vocab]");
  }
  const int64_t seq = t.shape[1], vocab = t.shape[2];
  const float* row =
      reinterpret_cast<const float*>(static_cast<const char*>(t.data) + t.byte_offset) +
      (seq - 1) * vocab;
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i) {
    if (row[i] > row[best]) best = i;
  }
  return best;
}

// A [1, n] int64 tensor holding `ids`.
ember::Tensor TokenIds(const std::vector<int64_t>& ids) {
  ember::Tensor tensor =
      ember::Tensor::Empty({1, static_cast<int64_t>(ids.size())}, DLDataType{kDLInt, 64, 1});
  const DLTensor& t = tensor.dl_tensor();
  auto* data = reinterpret_cast<int64_t*>(static_cast<char*>(t.data) + t.byte_offset);
  for (size_t i = 0; i < ids.size(); ++i) data[i] = ids[i];
  return tensor;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s MODEL.so TOKENS PROMPT_ID [PROMPT_ID ...]\n", argv[0]);
    return 2;
  }
  try {
    const int64_t tokens = ParseInteger(argv[2], "TOKENS");
    std::vector<int64_t> prompt;
    for (int i = 3; i < argc; ++i) prompt.push_back(ParseInteger(argv[i], "PROMPT_ID"));
    ember::Model model = ember::Model::Load(argv[1]);

    // The caches start empty: their symbolic length (-1 in the spec) is 0 for the prefill.
    std::vector<int64_t> cache_shape = model.inputs().at(1).shape;
    for (int64_t& extent : cache_shape) {
      if (extent < 0) extent = 0;
    }
    const DLDataType f32{kDLFloat, 32, 1};
    ember::Tensor past_k = ember::Tensor::Empty(cache_shape, f32);
    ember::Tensor past_v = ember::Tensor::Empty(cache_shape, f32);

    ember::Tensor ids = TokenIds(prompt);
    for (int64_t step = 0; step < tokens; ++step) {
      // Named inputs: the order of the model's inputs does not matter here.
      std::vector<ember::Tensor> out =
          model.Run({{"input_ids", ids}, {"past_k", past_k}, {"past_v", past_v}});
      const int64_t token = LastRowArgmax(out.at(0));
      std::printf(step ? " %lld" : "%lld", static_cast<long long>(token));
      ids = TokenIds({token});
      past_k = out.at(1);  // a reference to the grown cache, not a copy
      past_v = out.at(2);
    }
    std::printf("\n");
    return 0;
  } catch (const std::exception& e) {  // ember::Error, or a bad argument
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

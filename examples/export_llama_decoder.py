"""Export a Llama-style decoder with an explicit key/value cache, as a user would.

    pip install torch==2.13.0 onnxscript
    python examples/export_llama_decoder.py decoder.onnx
    python examples/generate.py decoder.onnx

4 layers, hidden 512, 8 query heads, 2 key/value heads, RMSNorm, rotary embeddings, SiLU MLP,
vocabulary 8,000, random weights (seed 0). Inputs `input_ids` [1, seq], `past_k`/`past_v`
[4, 1, 2, past, 64]; outputs logits and the grown caches, with `seq` and `past` symbolic
(`torch.onnx.export(dynamo=True)`). Not run by the tests (they build a decoder of the same
structure in code, `ember.compiler.examples.decoder_model`, without torch).
"""

from __future__ import annotations

import sys

import torch
from torch import nn
from torch.nn import functional

LAYERS, HIDDEN, HEADS, KV_HEADS, VOCAB, FFN = 4, 512, 8, 2, 8000, 1376
HEAD_DIM = HIDDEN // HEADS


class RMSNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(HIDDEN) + 0.1 * torch.randn(HIDDEN))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x[..., : HEAD_DIM // 2], x[..., HEAD_DIM // 2 :]
    return torch.cat([-second, first], -1)


def repeat_kv(x: torch.Tensor) -> torch.Tensor:
    """[1, kv, t, d] -> [1, heads, t, d] (grouped-query attention)."""
    b, kv, t, d = x.shape
    return x[:, :, None].expand(b, kv, HEADS // kv, t, d).reshape(b, HEADS, t, d)


class Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(), RMSNorm()
        self.q = nn.Linear(HIDDEN, HIDDEN, bias=False)
        self.k = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.v = nn.Linear(HIDDEN, KV_HEADS * HEAD_DIM, bias=False)
        self.o = nn.Linear(HIDDEN, HIDDEN, bias=False)
        self.gate = nn.Linear(HIDDEN, FFN, bias=False)
        self.up = nn.Linear(HIDDEN, FFN, bias=False)
        self.down = nn.Linear(FFN, HIDDEN, bias=False)

    def forward(self, x, past_k, past_v, cos, sin, mask):  # type: ignore[no-untyped-def]
        b, t, _ = x.shape
        h = self.norm1(x)
        q = self.q(h).view(b, t, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k(h).view(b, t, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v(h).view(b, t, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = torch.cat([past_k, k], 2), torch.cat([past_v, v], 2)
        scores = q @ repeat_kv(k).transpose(-1, -2) / HEAD_DIM**0.5 + mask
        y = (scores.softmax(-1) @ repeat_kv(v)).transpose(1, 2).reshape(b, t, HIDDEN)
        x = x + self.o(y)
        h = self.norm2(x)
        return x + self.down(functional.silu(self.gate(h)) * self.up(h)), k, v


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.ModuleList(Layer() for _ in range(LAYERS))
        self.norm = RMSNorm()
        self.head = nn.Linear(HIDDEN, VOCAB, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
        self.register_buffer("inv_freq", inv, persistent=False)

    def forward(self, input_ids, past_k, past_v):  # type: ignore[no-untyped-def]
        t, past = input_ids.shape[1], past_k.shape[3]
        positions = torch.arange(past, past + t).float()
        freqs = positions[:, None] * self.inv_freq[None]
        emb = torch.cat([freqs, freqs], -1)
        keys = torch.arange(past + t)
        visible = keys[None, :] <= positions.long()[:, None]
        mask = torch.where(visible, 0.0, float("-inf"))[None, None]
        x, ks, vs = self.embed(input_ids), [], []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, past_k[i], past_v[i], emb.cos(), emb.sin(), mask)
            ks.append(k)
            vs.append(v)
        return self.head(self.norm(x)), torch.stack(ks), torch.stack(vs)


def main(path: str) -> None:
    torch.manual_seed(0)
    model = Decoder().eval()
    ids = torch.randint(0, VOCAB, (1, 3))
    cache = torch.randn(LAYERS, 1, KV_HEADS, 5, HEAD_DIM)
    seq, past = torch.export.Dim("seq", max=4096), torch.export.Dim("past", max=4096)
    torch.onnx.export(
        model,
        (ids, cache, cache.clone()),
        path,
        dynamo=True,
        input_names=["input_ids", "past_k", "past_v"],
        output_names=["logits", "present_k", "present_v"],
        dynamic_shapes={"input_ids": {1: seq}, "past_k": {3: past}, "past_v": {3: past}},
        external_data=False,
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "decoder.onnx")

"""Benchmark networks written in PyTorch with random weights (torchvision is not needed).

ResNet-50 and MobileNetV2 follow the published architectures layer for layer; BERT-base and
GPT-2 small come from `transformers` config classes (nothing is downloaded); the MLP is the
issue's 3-layer 1024-wide network at batch 64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck: 1x1, 3x3 (strided), 1x1, with a projection when shapes change."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.relu(self.body(x) + self.skip(x))


def resnet50() -> nn.Module:
    """ResNet-50 for 224x224 images, 1000 classes."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(blocks):
            layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project, residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_v2() -> nn.Module:
    """MobileNetV2 (width 1.0) for 224x224 images, 1000 classes."""
    layers: list[nn.Module] = [
        nn.Conv2d(3, 32, 3, 2, 1, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU6(),
    ]
    cin = 32
    for expand, cout, repeats, stride in (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ):
        for i in range(repeats):
            layers.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
            cin = cout
    layers += [
        nn.Conv2d(cin, 1280, 1, bias=False),
        nn.BatchNorm2d(1280),
        nn.ReLU6(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(1280, 1000),
    ]
    return nn.Sequential(*layers)


class _LastHidden(nn.Module):
    """A `transformers` model returning only its last hidden state (one ONNX output)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # An explicit all-ones mask keeps transformers off its packed-sequence detection,
        # which uses an operator (aten::diff) the ONNX exporter lacks.
        mask = torch.ones_like(input_ids)
        return self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state


def bert_base() -> nn.Module:
    """BERT-base (12 layers, 768 wide) from its config class, random weights."""
    from transformers import BertConfig, BertModel

    return _LastHidden(BertModel(BertConfig(attn_implementation="eager")))


def gpt2_small() -> nn.Module:
    """GPT-2 small (12 layers, 768 wide) without a KV cache, random weights."""
    from transformers import GPT2Config, GPT2Model

    config = GPT2Config(use_cache=False, attn_implementation="eager")
    return _LastHidden(GPT2Model(config))


def mlp() -> nn.Module:
    """Three 1024-wide Linear layers with ReLU between them."""
    return nn.Sequential(
        nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024)
    )


@dataclass(frozen=True)
class Benchmark:
    """A benchmark network and the input it runs on."""

    name: str
    build: Callable[[], nn.Module]
    input_name: str
    input_shape: tuple[int, ...]
    input_dtype: torch.dtype = torch.float32


BENCHMARKS = [
    Benchmark("resnet50", resnet50, "image", (1, 3, 224, 224)),
    Benchmark("mobilenet_v2", mobilenet_v2, "image", (1, 3, 224, 224)),
    Benchmark("bert_base", bert_base, "input_ids", (1, 128), torch.int64),
    Benchmark("gpt2_small", gpt2_small, "input_ids", (1, 128), torch.int64),
    Benchmark("mlp", mlp, "x", (64, 1024)),
]

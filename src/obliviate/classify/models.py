"""Small models for the built-in tasks. ``features`` gives the penultimate
representation (used by probes), ``head`` maps it to logits."""

from __future__ import annotations

import torch
from torch import nn


class SmallCNN(nn.Module):
    """Two 3x3 conv layers and a two-layer head, for 8x8 single-channel images."""

    def __init__(self, num_classes: int = 10, channels: int = 1, width: int = 16, hidden: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(2 * width * 16, hidden), nn.ReLU(),
        )
        self.head = nn.Linear(hidden, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MLP(nn.Module):
    """A ReLU multi-layer perceptron on flat inputs."""

    def __init__(self, in_features: int, num_classes: int = 10, hidden: int = 256, depth: int = 2):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Normalize(nn.Module):
    """Per-channel ``(x − mean) / std`` inside the model, as the SalUn / l1-sparse
    reference code does (``NormalizeByChannelMeanStd``): inputs stay pixels in [0, 1],
    so methods that work in input space (UNSIR's noise, Boundary Shrink's FGSM) do too."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    """ResNet's two 3×3 convolutions with batch norm and an identity (or 1×1) shortcut."""

    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def _kaiming(model: nn.Module, linear_std: float | None = None) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0, linear_std)
            nn.init.zeros_(m.bias)


class ResNet18(nn.Module):
    """ResNet-18, CIFAR variant: a 3×3 stride-1 stem and no max-pool (32×32 inputs keep
    their resolution into the first stage), stages of 64/128/256/512 channels with two
    basic blocks each, global average pooling, a linear head. 11.17M parameters for
    10 classes. As the SalUn / l1-sparse code's ``resnet18`` (torchvision's, with the
    stem changed), Kaiming-normal convolutions."""

    def __init__(self, num_classes: int = 10, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)):
        super().__init__()
        self.normalize = Normalize(mean, std)
        layers: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
        width = 64
        for outputs, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(width, outputs, stride), BasicBlock(outputs, outputs, 1)]
            width = outputs
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(512, num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        _kaiming(self)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16BN(nn.Module):
    """VGG-16 with batch norm, as the SalUn / l1-sparse code's ``vgg16_bn``: thirteen
    bias-free 3×3 convolutions with batch norm and five max-pools, 2×2 adaptive
    average pooling, then 2048 → 256 → 256 → classes; Kaiming-normal convolutions,
    linear weights N(0, 0.01)."""

    def __init__(self, num_classes: int = 10, mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616)):
        super().__init__()
        self.normalize = Normalize(mean, std)
        layers: list[nn.Module] = []
        width = 3
        for v in VGG16:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(width, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU()]
                width = v
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                  nn.Linear(512 * 4, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU())
        self.head = nn.Linear(256, num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        _kaiming(self, linear_std=0.01)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


ARCHS = {"resnet18": ResNet18, "vgg16_bn": VGG16BN}


def find_head(model: nn.Module, num_classes: int | None = None) -> tuple[nn.Module, str, nn.Linear]:
    """The classification head as (parent module, attribute name, layer): the last
    ``nn.Linear`` in registration order (with ``num_classes`` outputs, if given).
    Methods that work on the features or logits of the head (DUCK, Boundary
    Expanding, probes) use it."""
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)
             and (num_classes is None or m.out_features == num_classes)]
    if not found:
        wanted = f" with {num_classes} outputs" if num_classes is not None else ""
        raise ValueError(f"the model has no nn.Linear layer{wanted} to use as its classification head")
    name, head = found[-1]
    parent_name, _, attr = name.rpartition(".")
    return model.get_submodule(parent_name), attr, head


def features_and_logits(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The input of the classification head (penultimate features) and the logits."""
    _, _, head = find_head(model)
    seen: list[torch.Tensor] = []
    handle = head.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    try:
        logits = model(x)
    finally:
        handle.remove()
    if not seen:
        raise ValueError("the model's last nn.Linear is not used in its forward pass; cannot find its features")
    return seen[-1].flatten(1), logits


def reinitialise(model: nn.Module) -> None:
    """Reset every parameter through its module's ``reset_parameters`` (torch's global
    generator, seeded by ``unlearn``). A parameter that no module can reset would
    keep what it learnt, so it is an error."""
    covered: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
                covered.update(id(p) for p in module.parameters(recurse=False))
    if hasattr(model, "init_weights"):  # a model's own initialisation scheme (ResNet18, VGG16BN), as at construction
        with torch.no_grad():
            model.init_weights()
    stuck = [n for n, p in model.named_parameters() if id(p) not in covered]
    if stuck:
        raise ValueError(
            f"cannot re-initialise parameter(s) {', '.join(stuck[:5])}: their module "
            "has no reset_parameters(); add one, or train a fresh model on the retain set yourself"
        )

"""PyTorch's training step on the same CPU, for `precision_step` to compare.

Standard-convolution pre-activation ResNet-20 (widths 16 / 32 / 64) and
ConvMixer-256/8 (kernel 8, patch 2), `channels_last`, SGD with momentum,
float32 and `torch.autocast("cpu", torch.bfloat16)`, timed in interleaved
windows. Prints JSON. PyTorch is not a dependency of the package: run this
where `torch` is installed (`pip install torch==2.13.0`, a CPU wheel).

    python benchmarks/torch_reference.py --windows=9 --batch_size=128
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.short = (
            nn.Conv2d(cin, cout, 1, stride, bias=False)
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x):
        out = torch.relu(self.bn1(x))
        short = self.short(out) if self.short is not None else x
        out = self.conv1(out)
        out = self.conv2(torch.relu(self.bn2(out)))
        return out + short


def resnet20():
    layers, cin = [nn.Conv2d(3, 16, 3, 1, 1, bias=False)], 16
    for cout, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):
            layers.append(PreActBlock(cin, cout, stride if i == 0 else 1))
            cin = cout
    layers += [
        nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(64, 10),
    ]  # fmt: skip
    return nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x


def convmixer(dim=256, depth=8, kernel=8, patch=2):
    blocks = [
        nn.Sequential(
            Residual(
                nn.Sequential(
                    nn.Conv2d(dim, dim, kernel, groups=dim, padding="same"),
                    nn.GELU(),
                    nn.BatchNorm2d(dim),
                )
            ),
            nn.Conv2d(dim, dim, 1),
            nn.GELU(),
            nn.BatchNorm2d(dim),
        )
        for _ in range(depth)
    ]
    return nn.Sequential(
        nn.Conv2d(3, dim, patch, stride=patch), nn.GELU(), nn.BatchNorm2d(dim),
        *blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(dim, 10),
    )  # fmt: skip


def step_fn(model, bf16):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--windows", type=int, default=9)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--networks", default="resnet20,convmixer_256_8_k8")
    args = parser.parse_args()
    builders = {"resnet20": resnet20, "convmixer_256_8_k8": convmixer}
    x = torch.rand(args.batch_size, 3, 32, 32).to(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, 10, (args.batch_size,))
    result = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    for name in args.networks.split(","):
        steps = {}
        for precision, bf16 in (("float32", False), ("bfloat16", True)):
            torch.manual_seed(0)
            model = builders[name]().to(memory_format=torch.channels_last)
            steps[precision] = step_fn(model, bf16)
        for step in steps.values():
            for _ in range(2):
                step(x, y)
        samples = {p: [] for p in steps}
        for _ in range(args.windows):
            for p, step in steps.items():
                start = time.perf_counter()
                for _ in range(args.steps):
                    step(x, y)
                samples[p].append((time.perf_counter() - start) / args.steps)
        result[name] = {
            p: args.batch_size / statistics.median(s)
            for p, s in samples.items()
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""PyTorch peer for `npm run bench -- --peer torch`: the same VGG-7 (DESIGN.md §2), same batch,
same thread count, timed the same way (SGD step = forward + backward + update). Prints one JSON
record per shape on stdout. Run by bench/main.ts, interleaved with layerlock's own runs."""
import json
import sys
import time

import torch
import torch.nn as nn


def vgg7(channels: int) -> nn.Module:
    def conv(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU()]

    # ceil_mode pooling reproduces Darknet's 28→14→7→4 / 32→16→8→4 sizes.
    return nn.Sequential(
        *conv(channels, 16), *conv(16, 16), nn.MaxPool2d(2, 2, ceil_mode=True),
        *conv(16, 32), *conv(32, 32), nn.MaxPool2d(2, 2, ceil_mode=True),
        *conv(32, 32), *conv(32, 32), nn.MaxPool2d(2, 2, ceil_mode=True),
        nn.Flatten(), nn.Linear(4 * 4 * 32, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 10),
    )


def timed(fn, min_seconds: float, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds and n >= 3:
            return dt / n


def measure(shape: str, channels: int, size: int, batch: int, seconds: float) -> dict:
    torch.manual_seed(1)
    model = vgg7(channels)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(batch, channels, size, size)
    y = torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    model.train()
    train_s = timed(step, seconds)
    model.eval()
    with torch.no_grad():
        infer_s = timed(lambda: model(x), seconds)
        x1 = x[:1].clone()
        lat_s = timed(lambda: model(x1), seconds / 2, warmup=10)
    return {
        "model": "vgg7", "shape": shape, "threads": torch.get_num_threads(),
        "train_img_s": batch / train_s, "infer_img_s": batch / infer_s, "latency_b1_ms": lat_s * 1000,
        "tool": f"pytorch {torch.__version__}",
    }


def main() -> None:
    threads, batch, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    shapes = sys.argv[4].split(",")
    torch.set_num_threads(threads)
    dims = {"mnist": (1, 28), "cifar10": (3, 32)}
    for shape in shapes:
        c, s = dims[shape]
        print(json.dumps(measure(shape, c, s, batch, seconds)), flush=True)


if __name__ == "__main__":
    main()

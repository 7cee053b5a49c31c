#!/usr/bin/python3
"""Makes the ONNX test fixtures of layerlock with PyTorch, and cross-checks ONNX files layerlock exports.

  /usr/bin/python3 scripts/onnx-fixtures.py [--out test/fixtures/onnx]
      Writes, per model, NAME.onnx (torch.onnx.export, eval mode), NAME.expected.json (what the
      tests compare against) and NAME.bin (float32 little-endian: the input batch, then the
      gradients listed in the JSON). Models: VGG-7 as PyTorch defines it (floor pooling, so
      28→14→7→3), a LeNet (tanh, sigmoid, an explicit Softmax), and a model with batch norm,
      leaky ReLU (slopes 0.01 and 0.1), average pooling with and without padding, ceil-mode max
      and average pooling, a strided conv and a MatMul+Add classifier.
      Gradients: one SGD step on the batch, loss = summed cross-entropy, the network in eval mode
      (no dropout, batch norm from its running statistics). Batch norm is folded into the layer
      before it (torch.nn.utils.fusion) because layerlock imports it folded; the probabilities
      are those of the unfolded model.

  /usr/bin/python3 scripts/onnx-fixtures.py --check-export MODEL.onnx INPUT.bin N C H W
      Runs an ONNX file with PyTorch ops (parsed and checked by the onnx package; each node mapped
      to the torch function of the same meaning) on N×C×H×W float32 input and prints the output as
      JSON. This is the ONNX Runtime stand-in for `layerlock export-onnx` (onnxruntime-node would
      download CUDA libraries at npm install time on linux-x64, so it is not a dev dependency).

Needs Debian's python3-torch (1.13; torch.onnx.export works without the onnx pip package) and,
for --check-export only, python3-onnx. The tests do not run this script: its output is committed.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval


class VGG7(nn.Module):
    """The paper's VGG-7 for MNIST as one writes it in PyTorch: nn.MaxPool2d(2) rounds down."""

    def __init__(self):
        super().__init__()
        c = lambda i, o: nn.Conv2d(i, o, 3, padding=1)
        self.features = nn.Sequential(
            c(1, 16), nn.ReLU(), c(16, 16), nn.ReLU(), nn.MaxPool2d(2),
            c(16, 32), nn.ReLU(), c(32, 32), nn.ReLU(), nn.MaxPool2d(2),
            c(32, 32), nn.ReLU(), c(32, 32), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 3 * 3, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(self.features(x))

    def folded(self):
        return [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.tanh(self.fc1(x))
        x = torch.sigmoid(self.fc2(x))
        return F.softmax(self.fc3(x), dim=1)

    def folded(self):
        return [self.conv1, self.conv2, self.fc1, self.fc2, self.fc3]


class BnMix(nn.Module):
    """Batch norm, leaky ReLU, average pooling (plain, padded) and ceil-mode max/average pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.pool1 = nn.AvgPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.pool2 = nn.MaxPool2d(2, stride=2, ceil_mode=True)           # 7→4: Darknet padding=1 gives it
        self.pool3 = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)  # 4→3 (floor: 2): the engine's ceil mode
        self.fc1 = nn.Linear(16 * 3 * 3, 32)
        self.bn3 = nn.BatchNorm1d(32)
        self.drop = nn.Dropout(0.25)
        self.w = nn.Parameter(torch.randn(32, 10) * 0.2)
        self.b = nn.Parameter(torch.randn(10) * 0.1)

    def forward(self, x):
        x = self.pool1(F.leaky_relu(self.bn1(self.conv1(x))))            # slope 0.01, PyTorch's default
        x = self.pool2(F.leaky_relu(self.bn2(self.conv2(x)), 0.1))
        x = self.pool3(x)
        x = x.reshape(x.shape[0], -1)
        x = self.drop(F.relu(self.bn3(self.fc1(x))))
        return torch.matmul(x, self.w) + self.b                          # MatMul + Add

    def folded(self):
        conv1 = fuse_conv_bn_eval(self.conv1, self.bn1)
        conv2 = fuse_conv_bn_eval(self.conv2, self.bn2)
        fc1 = fuse_linear_bn_eval(self.fc1, self.bn3)
        last = nn.Linear(32, 10)
        with torch.no_grad():
            last.weight.copy_(self.w.t())
            last.bias.copy_(self.b)
        return [conv1, conv2, fc1, last]

    def folded_forward(self, mods, x):
        conv1, conv2, fc1, last = mods
        x = self.pool1(F.leaky_relu(conv1(x)))
        x = self.pool3(self.pool2(F.leaky_relu(conv2(x), 0.1)))
        x = F.relu(fc1(x.reshape(x.shape[0], -1)))
        return last(x)


def randomise_bn(model, g):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.3, 0.3, generator=g)
                m.running_mean.uniform_(-0.5, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)


MODELS = {
    # name: (class, opset, batch, produces probabilities?)
    'vgg7-pytorch': (VGG7, 13, 6, False),
    'lenet-pytorch': (LeNet, 11, 5, True),
    'bnmix-pytorch': (BnMix, 17, 6, False),
}


def make(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for i, (name, (cls, opset, n, probs_out)) in enumerate(MODELS.items()):
        torch.manual_seed(100 + i)
        g = torch.Generator().manual_seed(200 + i)
        model = cls()
        randomise_bn(model, g)
        model.eval()
        x = torch.rand(n, 1, 28, 28, generator=g)
        labels = torch.randint(0, 10, (n,), generator=g)
        path = os.path.join(out_dir, name + '.onnx')
        # PRESERVE keeps the model's own (eval) mode but skips the exporter's eval-only fusing, so
        # BatchNormalization nodes reach the file as a user's export would have them.
        torch.onnx.export(model, x, path, opset_version=opset, input_names=['input'], output_names=['output'],
                          dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}},
                          training=torch.onnx.TrainingMode.PRESERVE)
        with torch.no_grad():
            y = model(x)
            probs = y if probs_out else F.softmax(y, dim=1)
        # One SGD step's gradients on the folded network (what layerlock trains after import).
        mods = [m for m in model.folded()]
        if isinstance(model, BnMix):
            params = [p for m in mods for p in (m.weight, m.bias)]
            logits = model.folded_forward(mods, x)
        else:
            params = [p for m in mods for p in (m.weight, m.bias)]
            out = model(x)
            logits = torch.log(out) if probs_out else out
        with torch.no_grad():
            check = F.softmax(logits, dim=1)
        assert torch.allclose(check, probs, atol=1e-5), 'folding changed the outputs'
        loss = F.cross_entropy(logits, labels, reduction='sum')
        grads = torch.autograd.grad(loss, params)
        blobs = [x.flatten()]
        entries = []
        offset = x.numel()
        for li, m in enumerate(mods):
            gw, gb = grads[2 * li], grads[2 * li + 1]
            entries.append({'layer': li, 'weights_shape': list(gw.shape), 'weights_offset': offset,
                            'biases_offset': offset + gw.numel(), 'count': gb.numel()})
            offset += gw.numel() + gb.numel()
            blobs += [gw.flatten(), gb.flatten()]
        data = torch.cat([b.detach().float() for b in blobs]).numpy().astype('<f4').tobytes()
        with open(os.path.join(out_dir, name + '.bin'), 'wb') as f:
            f.write(data)
        doc = {
            'model': name + '.onnx', 'opset': opset, 'torch': torch.__version__,
            'input_shape': [n, 1, 28, 28], 'input_offset': 0,
            'labels': labels.tolist(),
            'loss_sum': loss.item(),
            'probs': [[float(v) for v in row] for row in probs.tolist()],
            'gradients': entries,
            'note': 'gradients of the summed cross-entropy w.r.t. the trainable layers in network order '
                    '(batch norm folded), eval mode; float32 in NAME.bin',
        }
        with open(os.path.join(out_dir, name + '.expected.json'), 'w') as f:
            json.dump(doc, f, indent=1)
        print(f'{name}: {os.path.getsize(path)} bytes onnx, loss {loss.item():.6f}', file=sys.stderr)


def check_export(path, input_path, shape):
    import onnx
    from onnx import numpy_helper
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    n, c, h, w = shape
    with open(input_path, 'rb') as f:
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32)[: n * c * h * w].reshape(n, c, h, w)
    env = {model.graph.input[0].name: x}
    for t in model.graph.initializer:
        env[t.name] = torch.from_numpy(numpy_helper.to_array(t).copy())
    for node in model.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
        i = [env[k] for k in node.input if k]
        op = node.op_type
        if op == 'Conv':
            pads = a.get('pads', [0, 0, 0, 0])
            xin = F.pad(i[0], (pads[1], pads[3], pads[0], pads[2]))
            y = F.conv2d(xin, i[1], i[2] if len(i) > 2 else None, stride=a.get('strides', [1, 1]))
        elif op in ('MaxPool', 'AveragePool'):
            pads = a.get('pads', [0, 0, 0, 0])
            k, s = a['kernel_shape'], a.get('strides', [1, 1])
            if op == 'MaxPool':
                xin = F.pad(i[0], (pads[1], pads[3], pads[0], pads[2]), value=float('-inf'))
                y = F.max_pool2d(xin, k, s, ceil_mode=bool(a.get('ceil_mode', 0)))
            else:
                assert pads[0] == pads[2] and pads[1] == pads[3]
                y = F.avg_pool2d(i[0], k, s, padding=(pads[0], pads[1]), ceil_mode=bool(a.get('ceil_mode', 0)),
                                 count_include_pad=bool(a.get('count_include_pad', 0)))
        elif op == 'GlobalAveragePool':
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif op == 'Relu':
            y = F.relu(i[0])
        elif op == 'LeakyRelu':
            y = F.leaky_relu(i[0], a.get('alpha', 0.01))
        elif op == 'Sigmoid':
            y = torch.sigmoid(i[0])
        elif op == 'Tanh':
            y = torch.tanh(i[0])
        elif op == 'Flatten':
            y = torch.flatten(i[0], a.get('axis', 1))
        elif op == 'Gemm':
            b = i[1].t() if a.get('transB', 0) else i[1]
            y = a.get('alpha', 1.0) * (i[0] @ b) + a.get('beta', 1.0) * i[2]
        elif op == 'Softmax':
            y = F.softmax(i[0], dim=a.get('axis', -1))
        elif op == 'Identity':
            y = i[0]
        else:
            raise SystemExit(f'check-export: node {node.name} has operator {op}, which this checker does not run')
        env[node.output[0]] = y
    out = env[model.graph.output[0].name]
    json.dump({'opset': model.opset_import[0].version, 'shape': list(out.shape),
               'output': [float(v) for v in out.flatten().tolist()]}, sys.stdout)
    print()


if __name__ == '__main__':
    args = sys.argv[1:]
    if args[:1] == ['--check-export']:
        check_export(args[1], args[2], [int(v) for v in args[3:7]])
    else:
        out = args[args.index('--out') + 1] if '--out' in args else os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'onnx')
        torch.set_num_threads(1)
        make(out)

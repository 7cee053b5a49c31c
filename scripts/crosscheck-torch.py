"""Compares one layerlock VGG-7 training step with PyTorch on the same weights and batch:
forward probabilities and the gradient of the summed cross-entropy for every weight and bias.
Usage: node scripts/crosscheck-torch.mjs cfg/vgg7-mnist.cfg /tmp/step.json && /usr/bin/python3 scripts/crosscheck-torch.py /tmp/step.json"""
import json
import sys

import torch
import torch.nn as nn

d = json.load(open(sys.argv[1]))
torch.set_default_dtype(torch.float64)  # the reference side in double: differences are layerlock's float32 error
mods = []
convs = [l for l in d["layers"] if l["type"] == "convolutional"]
fcs = [l for l in d["layers"] if l["type"] == "connected"]
for i, l in enumerate(convs):
    f, c, k, _ = l["shape"]
    conv = nn.Conv2d(c, f, k, padding=k // 2)
    conv.weight.data = torch.tensor(l["weights"], dtype=torch.float64).reshape(f, c, k, k)
    conv.bias.data = torch.tensor(l["biases"], dtype=torch.float64)
    mods += [conv, nn.ReLU()]
    if i % 2 == 1:
        mods.append(nn.MaxPool2d(2, 2, ceil_mode=True))  # Darknet's 28→14→7→4 rounding
mods.append(nn.Flatten())
for i, l in enumerate(fcs):
    o, inp = l["shape"]
    fc = nn.Linear(inp, o)
    fc.weight.data = torch.tensor(l["weights"], dtype=torch.float64).reshape(o, inp)
    fc.bias.data = torch.tensor(l["biases"], dtype=torch.float64)
    mods.append(fc)
    if i < len(fcs) - 1:
        mods.append(nn.ReLU())
model = nn.Sequential(*mods)
x = torch.tensor(d["x"], dtype=torch.float64).reshape(d["n"], d["channels"], d["size"], d["size"])
y = torch.tensor(d["labels"])
logits = model(x)
nn.CrossEntropyLoss(reduction="sum")(logits, y).backward()
probs = torch.softmax(logits, 1).detach().flatten()
worst = {"probs": (probs - torch.tensor(d["probs"], dtype=torch.float64)).abs().max().item()}
params = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
for i, (m, l) in enumerate(zip(params, d["layers"])):
    for name, ours, theirs in (("weight", l["weight_grad"], m.weight.grad), ("bias", l["bias_grad"], m.bias.grad)):
        t = theirs.flatten()
        rel = (torch.tensor(ours, dtype=torch.float64) - t).abs().max().item() / max(t.abs().max().item(), 1e-12)
        worst[f"layer{i}.{name}_grad_rel"] = rel
print(json.dumps({"kernels": d["kernels"], "torch": torch.__version__, "max_abs_prob_diff": worst.pop("probs"), "max_rel_grad_diff": worst}, indent=1))
bad = [k for k, v in worst.items() if v > 1e-3]
sys.exit(1 if bad else 0)

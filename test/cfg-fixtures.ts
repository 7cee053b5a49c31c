// Network definitions that several tests train: one text, so that the tests agree on what they train.

/** A small MNIST-shaped network (two conv + max-pool stages, one connected layer) that trains in seconds. */
export const SMALL_MNIST_CFG = `
[net]
batch=25
height=28
width=28
channels=1
learning_rate=0.05
momentum=0.9
decay=0.0005

[convolutional]
filters=4
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[convolutional]
filters=6
size=3
stride=1
pad=1
activation=relu

[maxpool]
size=2
stride=2

[connected]
output=10
activation=linear

[softmax]
`;

/**
 * A 6×6 toy network with every trainable layer type — convolution with batch normalisation, max-pool,
 * convolution, connected, dropout — below a last connected layer, as in VGG-7. `tail` adds sections
 * after the softmax (e.g. a cost layer).
 */
export function toyCfg(batch: number, tail = ''): string {
  return `
[net]
batch=${batch}
height=6
width=6
channels=1
learning_rate=0.05
momentum=0.9
decay=0.0005

[convolutional]
filters=3
size=3
stride=1
pad=1
activation=leaky
batch_normalize=1

[maxpool]
size=2
stride=2

[convolutional]
filters=4
size=3
stride=1
pad=1
activation=relu

[connected]
output=8
activation=relu

[dropout]
probability=0.3

[connected]
output=3
activation=linear

[softmax]
${tail}`;
}

// Element-wise passes (see eltwise.cc). Buffers are already validated by addon.cc.
#pragma once

namespace layerlock {

enum class Act { Linear, Relu, Leaky, Logistic };

/** x[(b·channels + c)·spatial + s] = act(x + biases[c]). */
void biasActivate(float* x, const float* biases, long n, long channels, long spatial, Act act);

/** delta[i] *= act'(output[i]). */
void activationGradient(Act act, const float* output, float* delta, long count);

/** biasUpdates[c] += per-image double sums of delta, added image by image. */
void biasGradient(float* biasUpdates, const float* delta, long n, long channels, long spatial);

}  // namespace layerlock

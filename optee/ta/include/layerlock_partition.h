/*
 * The protected partition of layerlock's OP-TEE TA (issue 17, milestone 2): layers [start, end]
 * of a cfg built inside the secure-memory arena, run forward and backward, updated with
 * Darknet's SGD — src/tee/ta/partition.ts and the parts of src/nn/network.ts it uses, in C, on
 * the layer files of this folder (conv.c, connected.c, maxpool.c, ...; no layer arithmetic is
 * restated here). Every buffer comes from the arena in the software TA's order, so the blocks,
 * the peak and the OUT_OF_MEMORY message (with its "what would fit" suggestions, from the same
 * footprint rules as src/tee/shared/footprint.ts) are the same; the boundary rules (what may
 * enter and leave) and their result codes and messages are partition.ts's.
 *
 * Not in C yet, refused at CONFIGURE with TEE_ERROR_NOT_SUPPORTED when inside the range (the
 * rest of the network may use them): the tanh activation (V8's Math.tanh); and, for training,
 * learning-rate policies other than constant and steps, and burn-in (they need pow/exp equal to
 * V8's).
 */
#ifndef LAYERLOCK_PARTITION_H
#define LAYERLOCK_PARTITION_H

#include <stddef.h>
#include <stdint.h>
#include <layerlock_arena.h>
#include <layerlock_batchnorm.h>
#include <layerlock_cfg.h>
#include <layerlock_conv.h>
#include <layerlock_connected.h>
#include <layerlock_maxpool.h>
#include <layerlock_strbuf.h>
#include <layerlock_tee.h>

struct ll_shape {
	int32_t c, h, w;
};

struct ll_spec {
	uint32_t start, end;
	uint32_t max_batch; /* images per forward: the size of every batch buffer */
	uint32_t seed;
	int train;
	int input_delta; /* trainable layers below need the gradient leaving layer start */
	int policy;      /* LAYERLOCK_POLICY_* */
	uint32_t topk;
	int allow_export;
};

/* src/tee/shared/roles.ts: where a range sits in its network */
struct ll_roles {
	int holds_output, suffix_outside, loss_inside, trainable_inside, trainable_below;
};

struct ll_player {
	const struct ll_layer_cfg *cfg;
	int32_t index;
	struct ll_shape in, out;
	size_t in_size, out_size;
	float *output, *delta;
	struct ll_conv conv;
	struct ll_connected fc;
	struct ll_pool_geometry pool;
	int has_bn;
	struct ll_batchnorm bn;
	int32_t *argmax;
	uint8_t *keep;
	int last_train;
	int delta_needed; /* backward must produce the gradient entering this layer */
};

struct ll_partition {
	const struct ll_net_cfg *cfg;
	struct ll_shape shapes[LL_MAX_LAYERS + 1];
	struct ll_spec spec;
	struct ll_roles roles;
	struct ll_arena *arena;
	struct ll_player layers[LL_MAX_LAYERS];
	size_t n;
	size_t out_layer; /* position of the prediction layer in layers[] */
	float *workspace, *input, *input_delta, *top_delta, *truth;
	size_t inputs, classes, top_values;
	int has_last_forward, last_forward_train;
	uint32_t last_forward_n;
	double ce_sum, ce_count;
	uint32_t updates;
	/* images trained on (backward) since the last update: what a deferred update must name */
	uint64_t trained_since_update;
};

/*
 * Builds the partition into the arena (reset first). TEE_SUCCESS, or a GP code with the
 * software TA's message in msg: BAD_PARAMETERS (range), OUT_OF_MEMORY (what did not fit and
 * what would), NOT_SUPPORTED (a layer feature the C TA does not have, see above).
 */
TEE_Result ll_partition_build(struct ll_partition *p, const struct ll_net_cfg *cfg,
			      const struct ll_spec *spec, struct ll_arena *arena, struct ll_sb *msg);

/* Bytes FORWARD returns for n images (0: nothing leaves). */
size_t ll_partition_forward_output_bytes(const struct ll_partition *p, uint32_t n);

/*
 * FORWARD on n images. `activation` is n × inputs float32 (`bytes` long); the labels, when
 * has_labels, are `nlabels` bytes (a memref may be empty, and then its buffer NULL: the flag,
 * not the pointer, says labels were given). Then ll_partition_forward_output gives what leaves.
 */
TEE_Result ll_partition_forward(struct ll_partition *p, const void *activation, size_t bytes,
				uint32_t n, int train, int has_labels, const uint8_t *labels,
				size_t nlabels, struct ll_sb *msg);
/* Writes the forward output of the last FORWARD of n images into out (out_bytes long). */
void ll_partition_forward_output(const struct ll_partition *p, uint32_t n, void *out);

/*
 * BACKWARD after a training forward of the same n: top_delta (bytes long) or NULL; on success
 * *grad points at the gradient leaving layer start (n × inputs float32, in secure memory) or
 * is NULL when none leaves.
 */
TEE_Result ll_partition_backward(struct ll_partition *p, const void *top_delta, size_t bytes,
				 int has_top_delta, uint32_t n, const float **grad,
				 struct ll_sb *msg);

TEE_Result ll_partition_update(struct ll_partition *p, uint32_t images, uint32_t expected,
			       struct ll_sb *msg);

/*
 * TRAIN_STEP (trainStep of partition.ts): the update deferred from the previous batch when
 * `deferred` (its images) is not 0 — BAD_STATE unless they are the images trained since the last
 * update — then a training forward and backward of n images, *grad as ll_partition_backward's.
 * The inputs are checked before the update, so a step refused for them changes nothing.
 */
TEE_Result ll_partition_train_step(struct ll_partition *p, const void *activation, size_t bytes,
				   uint32_t n, int has_labels, const uint8_t *labels, size_t nlabels,
				   uint32_t deferred, const float **grad, struct ll_sb *msg);

TEE_Result ll_partition_take_loss(struct ll_partition *p, double *sum, double *count,
				  struct ll_sb *msg);

/* Darknet .weights bytes of the range's trainable layers (header 0.2.0, seen 0). */
size_t ll_partition_weights_bytes(const struct ll_partition *p);
TEE_Result ll_partition_check_export(const struct ll_partition *p, struct ll_sb *msg);
void ll_partition_export(const struct ll_partition *p, uint8_t *out);
/* headerByteSize of src/nn/weights.ts: 20 when seen is a uint64 (seenIsUint64), else 16. */
size_t ll_weights_header_bytes(uint64_t major, uint64_t minor);
TEE_Result ll_partition_load(struct ll_partition *p, const uint8_t *bytes, size_t len,
			     struct ll_sb *msg);

const char *ll_policy_name(int policy);

/* layerShapes of src/nn/network.ts (shapes[i] what layer i receives): 0, or -1 with the message. */
int ll_cfg_shapes(const struct ll_net_cfg *cfg, struct ll_shape *shapes, struct ll_sb *msg);
/* rangeRoles of src/tee/shared/roles.ts: 0, or -1 with PartitionError's message. */
int ll_range_roles(const struct ll_net_cfg *cfg, uint32_t start, uint32_t end, struct ll_roles *r,
		   struct ll_sb *msg);

#endif

/*
 * The Darknet .cfg reader of layerlock's OP-TEE TA (issue 17, milestone 2): CONFIGURE hands the
 * TA the whole cfg text (the architecture is not secret), as the software TA gets it, and the TA
 * builds the protected range from it. It is src/nn/cfg.ts's parser restated in C: the same
 * lexing (all whitespace dropped, '#'/';' comments, the first of a repeated key wins), the same
 * section aliases, keys, Darknet defaults, ranges and "neutral value only" rules, so a cfg means
 * the same network in both TAs. What it leaves out, on purpose:
 *  - warnings (ignored and unknown keys) are not collected: they change nothing and a TA has
 *    nowhere to print them;
 *  - numbers go through an exact decimal reader (Clinger's fast path: at most 15 significant
 *    digits, power of ten at most 22), which gives the same double as JavaScript's Number() for
 *    every number that path covers; any other number is refused with BAD_PARAMETERS rather than
 *    risk a last-bit difference in a learning rate.
 * Every layer type the engine parses is parsed here (so layer shapes outside the protected range
 * are known); which of them the TA can *run* is decided when the range is built (partition.c).
 */
#ifndef LAYERLOCK_CFG_H
#define LAYERLOCK_CFG_H

#include <stddef.h>
#include <stdint.h>

#define LL_MAX_LAYERS 64
#define LL_MAX_STEPS 16

enum ll_layer_type {
	LL_LAYER_CONVOLUTIONAL = 0,
	LL_LAYER_CONNECTED,
	LL_LAYER_MAXPOOL,
	LL_LAYER_LOCAL_AVGPOOL,
	LL_LAYER_AVGPOOL,
	LL_LAYER_DROPOUT,
	LL_LAYER_SOFTMAX,
	LL_LAYER_COST
};

/* The first three have the values of enum ll_activation (layerlock_connected.h). */
enum ll_cfg_activation {
	LL_CFG_ACT_LINEAR = 0,
	LL_CFG_ACT_RELU = 1,
	LL_CFG_ACT_LEAKY = 2,
	LL_CFG_ACT_LOGISTIC = 3,
	LL_CFG_ACT_TANH = 4
};

enum ll_lr_policy { LL_LR_CONSTANT = 0, LL_LR_STEPS, LL_LR_STEP, LL_LR_POLY, LL_LR_EXP, LL_LR_SIG };

struct ll_layer_cfg {
	enum ll_layer_type type;
	int32_t line; /* of the section header */
	/* convolutional, connected */
	int32_t filters, output;
	enum ll_cfg_activation activation;
	int has_slope;
	double slope; /* leaky_slope= */
	int batch_normalize;
	/* convolutional, maxpool, local_avgpool */
	int32_t size, stride, padding;
	int ceil_mode, count_include_pad;
	/* dropout */
	double probability;
	/* cost: enum ll_cost_type of layerlock_cost.h */
	int cost_type;
	double scale;
};

struct ll_net_cfg {
	int32_t batch, subdivisions, height, width, channels;
	double learning_rate, momentum, decay;
	int32_t max_batches, burn_in;
	double power;
	enum ll_lr_policy policy;
	int32_t step;
	double scale, gamma;
	size_t nsteps;
	int32_t steps[LL_MAX_STEPS];
	double scales[LL_MAX_STEPS];
	size_t nlayers;
	struct ll_layer_cfg layers[LL_MAX_LAYERS];
};

/* The layer type names of src/nn/config.ts ('convolutional', 'maxpool', ...). */
const char *ll_layer_type_name(enum ll_layer_type t);

/*
 * Parses `len` bytes of cfg text. Returns 0, or -1 with the engine's CfgError message
 * ("cfg from the normal world:12: [convolutional] key 'size=0' must be at least 1") in err.
 */
int ll_cfg_parse(const char *text, size_t len, struct ll_net_cfg *cfg, char *err, size_t errsize);

#endif

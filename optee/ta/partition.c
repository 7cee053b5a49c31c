/* The layerlock TA's protected partition: see include/layerlock_partition.h. */
#include <string.h>
#include <layerlock_avgpool.h>
#include <layerlock_bytes.h>
#include <layerlock_cost.h>
#include <layerlock_dropout.h>
#include <layerlock_localavgpool.h>
#include <layerlock_math.h>
#include <layerlock_output.h>
#include <layerlock_partition.h>
#include <layerlock_protocol.h>
#include <layerlock_rng.h>
#include <layerlock_sgd.h>
#include <layerlock_softmax.h>

/* Exact comparisons are the engine's (Darknet's leaky slope, LOG_FLOOR): intended. */
#pragma GCC diagnostic ignored "-Wfloat-equal"

#define LOG_FLOOR 1e-12 /* src/nn/layers/softmax.ts */
#define DARKNET_LEAKY_SLOPE 0.1
#define THREADS 1 /* the C TA runs its kernels on one thread: one im2col workspace */

const char *ll_policy_name(int policy)
{
	switch (policy) {
	case LAYERLOCK_POLICY_TOP1:
		return "top1";
	case LAYERLOCK_POLICY_TOPK:
		return "topk";
	default:
		return "full";
	}
}

static size_t shape_size(struct ll_shape s)
{
	return (size_t)s.c * (size_t)s.h * (size_t)s.w;
}

static int trainable_type(enum ll_layer_type t)
{
	return t == LL_LAYER_CONVOLUTIONAL || t == LL_LAYER_CONNECTED;
}

static void sb_shape(struct ll_sb *s, struct ll_shape sh)
{
	ll_sb_i64(s, sh.w);
	ll_sb_str(s, "\xc3\x97"); /* × */
	ll_sb_i64(s, sh.h);
	ll_sb_str(s, "\xc3\x97");
	ll_sb_i64(s, sh.c);
}

/* convOutputSize in 64 bits (cfg values go up to 2^31 - 1); 0 for what would not fit an int32 */
static int32_t conv_out(int32_t in, int32_t padding, int32_t size, int32_t stride)
{
	int64_t a = (int64_t)in + 2 * (int64_t)padding - size;
	int64_t q = a / stride - ((a % stride != 0 && a < 0) ? 1 : 0);

	return q + 1 > INT32_MAX ? 0 : (int32_t)(q + 1);
}

/*
 * The C TA's own guard, beyond the engine's rules: a tensor of more than 2^32 values (16 GiB of
 * float32) can never fit any arena, and refusing it up front keeps every size sum of the
 * footprint (512 blocks at most, each at most 2^20 images × 2^32 values × 4 bytes) below 2^64,
 * whatever numbers a hostile normal world writes into the cfg.
 */
#define MAX_TENSOR (1ULL << 32)

/* a * b, saturating just above MAX_TENSOR (no 64-bit overflow, whatever the factors) */
static uint64_t mul_sat(uint64_t a, uint64_t b)
{
	if (a && b > (MAX_TENSOR + 1) / a)
		return MAX_TENSOR + 1;
	return a * b > MAX_TENSOR ? MAX_TENSOR + 1 : a * b;
}

static uint64_t shape_sat(struct ll_shape s)
{
	return mul_sat(mul_sat((uint64_t)s.c, (uint64_t)s.h), (uint64_t)s.w);
}

static int too_large(const struct ll_layer_cfg *l, struct ll_shape in, struct ll_shape out)
{
	uint64_t k2 = mul_sat((uint64_t)l->size, (uint64_t)l->size);

	if (shape_sat(in) > MAX_TENSOR || shape_sat(out) > MAX_TENSOR)
		return 1;
	if (l->type == LL_LAYER_CONVOLUTIONAL)
		return mul_sat(mul_sat((uint64_t)l->filters, (uint64_t)in.c), k2) > MAX_TENSOR ||
		       mul_sat(mul_sat((uint64_t)in.c, k2), mul_sat((uint64_t)out.h, (uint64_t)out.w)) > MAX_TENSOR;
	if (l->type == LL_LAYER_CONNECTED)
		return mul_sat((uint64_t)l->output, shape_sat(in)) > MAX_TENSOR;
	/* pooling windows: keeps the window arithmetic (origin + size, divisors) within int32 */
	if (l->type == LL_LAYER_MAXPOOL || l->type == LL_LAYER_LOCAL_AVGPOOL)
		return l->size > 65536 || l->stride > 65536;
	return 0;
}

/* layerShapes of src/nn/network.ts: what every layer receives, and the final output. */
static int layer_shapes(const struct ll_net_cfg *cfg, struct ll_shape *shapes, struct ll_sb *msg)
{
	size_t i;

	shapes[0].c = cfg->channels;
	shapes[0].h = cfg->height;
	shapes[0].w = cfg->width;
	for (i = 0; i < cfg->nlayers; i++) {
		const struct ll_layer_cfg *l = &cfg->layers[i];
		struct ll_shape in = shapes[i], out = in;

		switch (l->type) {
		case LL_LAYER_CONVOLUTIONAL:
			out.c = l->filters;
			out.h = conv_out(in.h, l->padding, l->size, l->stride);
			out.w = conv_out(in.w, l->padding, l->size, l->stride);
			break;
		case LL_LAYER_CONNECTED:
			out.c = l->output;
			out.h = 1;
			out.w = 1;
			break;
		case LL_LAYER_MAXPOOL:
		case LL_LAYER_LOCAL_AVGPOOL:
			/* keep maxpool.c's int32 arithmetic from overflowing (the guard below refuses it) */
			if ((int64_t)in.h + l->padding > INT32_MAX / 2 || (int64_t)in.w + l->padding > INT32_MAX / 2) {
				out.h = out.w = INT32_MAX;
				out.c = INT32_MAX;
				break;
			}
			out.h = ll_pool_output_size(in.h, l->size, l->stride, l->padding, l->ceil_mode);
			out.w = ll_pool_output_size(in.w, l->size, l->stride, l->padding, l->ceil_mode);
			break;
		case LL_LAYER_AVGPOOL:
			out.h = 1;
			out.w = 1;
			break;
		default: /* dropout, softmax, cost keep the shape */
			break;
		}
		if (!(out.c > 0 && out.h > 0 && out.w > 0)) {
			ll_sb_str(msg, "cfg from the normal world:");
			ll_sb_i64(msg, l->line);
			ll_sb_str(msg, ": [");
			ll_sb_str(msg, ll_layer_type_name(l->type));
			ll_sb_str(msg, "] layer ");
			ll_sb_u64(msg, i);
			ll_sb_str(msg, " gets input ");
			sb_shape(msg, in);
			ll_sb_str(msg, " and would produce an empty output ");
			sb_shape(msg, out);
			return -1;
		}
		if (too_large(l, in, out)) {
			ll_sb_str(msg, "cfg from the normal world:");
			ll_sb_i64(msg, l->line);
			ll_sb_str(msg, ": [");
			ll_sb_str(msg, ll_layer_type_name(l->type));
			ll_sb_str(msg, "] layer ");
			ll_sb_u64(msg, i);
			ll_sb_str(msg, " is larger than the C TA takes (more than 2^32 values in one buffer, or a window or stride above 65536)");
			return -1;
		}
		shapes[i + 1] = out;
	}
	return 0;
}

static size_t prediction_layer(const struct ll_net_cfg *cfg)
{
	size_t i;

	for (i = cfg->nlayers - 1; i > 0; i--)
		if (cfg->layers[i].type != LL_LAYER_COST)
			return i;
	return 0;
}

/* rangeRoles of src/tee/shared/roles.ts; -1 with PartitionError's message */
static int range_roles(const struct ll_net_cfg *cfg, uint32_t start, uint32_t end,
		       struct ll_roles *r, struct ll_sb *msg)
{
	size_t L = cfg->nlayers, o, i;

	if (!(start <= end && end < L)) {
		if (msg) {
			ll_sb_str(msg, "layer range ");
			ll_sb_u64(msg, start);
			ll_sb_str(msg, ":");
			ll_sb_u64(msg, end);
			ll_sb_str(msg, " is not within the network's layers 0:");
			ll_sb_u64(msg, L - 1);
		}
		return -1;
	}
	o = prediction_layer(cfg);
	r->holds_output = start <= o && o <= end;
	if (r->holds_output && end < L - 1) {
		if (msg) {
			ll_sb_str(msg, "layers ");
			ll_sb_u64(msg, start);
			ll_sb_str(msg, ":");
			ll_sb_u64(msg, end);
			ll_sb_str(msg, " hold the prediction layer ");
			ll_sb_u64(msg, o);
			ll_sb_str(msg, " (");
			ll_sb_str(msg, ll_layer_type_name(cfg->layers[o].type));
			ll_sb_str(msg, ") but not the cost layer(s) after it, whose loss would need the full output outside the TEE; use ");
			ll_sb_u64(msg, start);
			ll_sb_str(msg, ":");
			ll_sb_u64(msg, L - 1);
		}
		return -1;
	}
	r->suffix_outside = end < L - 1;
	r->loss_inside = 0;
	r->trainable_inside = 0;
	r->trainable_below = 0;
	for (i = start; i <= end; i++) {
		enum ll_layer_type t = cfg->layers[i].type;

		if (t == LL_LAYER_SOFTMAX || t == LL_LAYER_COST)
			r->loss_inside = 1;
		if (trainable_type(t))
			r->trainable_inside = 1;
	}
	for (i = 0; i < start; i++)
		if (trainable_type(cfg->layers[i].type))
			r->trainable_below = 1;
	return 0;
}

/* The two above for deploy.c, which checks a package's layout against its cfg (checkLayout). */
int ll_cfg_shapes(const struct ll_net_cfg *cfg, struct ll_shape *shapes, struct ll_sb *msg)
{
	return layer_shapes(cfg, shapes, msg);
}

int ll_range_roles(const struct ll_net_cfg *cfg, uint32_t start, uint32_t end, struct ll_roles *r,
		   struct ll_sb *msg)
{
	return range_roles(cfg, start, end, r, msg);
}

/* ---------------------------------------------------------------------------------------- */
/* The footprint (src/tee/shared/footprint.ts): bytes a range needs, from shapes alone. */

static uint64_t align16(uint64_t b)
{
	return (b + LL_ARENA_ALIGN - 1) / LL_ARENA_ALIGN * LL_ARENA_ALIGN;
}

static uint64_t f32b(uint64_t n)
{
	return align16(4 * n);
}

static uint64_t conv_column_floats(const struct ll_net_cfg *cfg, const struct ll_shape *shapes,
				   size_t i)
{
	const struct ll_layer_cfg *l = &cfg->layers[i];

	if (l->type != LL_LAYER_CONVOLUTIONAL)
		return 0;
	return (uint64_t)shapes[i].c * (uint64_t)l->size * (uint64_t)l->size *
	       (uint64_t)shapes[i + 1].h * (uint64_t)shapes[i + 1].w;
}

/* workspaceNeed: the largest convolution's im2col bytes (the first on ties), 0 without one */
static uint64_t workspace_need(const struct ll_net_cfg *cfg, const struct ll_shape *shapes,
			       uint32_t start, uint32_t end, int32_t *layer)
{
	uint64_t best = 0;
	uint32_t i;

	for (i = start; i <= end; i++) {
		uint64_t b = 4 * conv_column_floats(cfg, shapes, i) * THREADS;

		if (b > 0 && b > best) {
			best = b;
			*layer = (int32_t)i;
		}
	}
	return best;
}

static int keeps_input(const struct ll_net_cfg *cfg, uint32_t start, int train)
{
	return train && trainable_type(cfg->layers[start].type);
}

/* secureFootprint(...).total; -1 when the rules reject the range */
static int footprint_total(const struct ll_net_cfg *cfg, const struct ll_shape *shapes,
			   uint32_t start, uint32_t end, uint64_t batch, int train, int input_delta,
			   uint64_t *total)
{
	struct ll_roles r;
	uint64_t t = 0, inputs, top;
	int32_t wl = 0;
	uint32_t i;

	if (range_roles(cfg, start, end, &r, NULL))
		return -1;
	for (i = start; i <= end; i++) {
		const struct ll_layer_cfg *l = &cfg->layers[i];
		uint64_t out = batch * shape_size(shapes[i + 1]);

		t += f32b(out);
		if (train)
			t += f32b(out);
		switch (l->type) {
		case LL_LAYER_CONVOLUTIONAL:
		case LL_LAYER_CONNECTED: {
			uint64_t ch = (uint64_t)(l->type == LL_LAYER_CONVOLUTIONAL ? l->filters : l->output);
			uint64_t w = l->type == LL_LAYER_CONVOLUTIONAL ?
					     ch * (uint64_t)shapes[i].c * (uint64_t)l->size * (uint64_t)l->size :
					     ch * shape_size(shapes[i]);

			t += f32b(w) + f32b(ch);
			if (train)
				t += f32b(w) + f32b(ch);
			if (l->batch_normalize) {
				t += 3 * f32b(ch);
				if (train)
					t += f32b(ch) + 2 * f32b(ch) + f32b(out);
			}
			break;
		}
		case LL_LAYER_MAXPOOL:
			t += f32b(out);
			break;
		case LL_LAYER_DROPOUT:
			if (train)
				t += align16(out);
			break;
		default:
			break;
		}
	}
	t += align16(workspace_need(cfg, shapes, start, end, &wl));
	inputs = shape_size(shapes[start]);
	top = shape_size(shapes[end + 1]);
	if (keeps_input(cfg, start, train))
		t += f32b(batch * inputs);
	if (train && input_delta)
		t += f32b(batch * inputs);
	if (train && r.suffix_outside)
		t += f32b(batch * top);
	if ((train && r.loss_inside) || r.holds_output)
		t += f32b(batch * top);
	*total = t;
	return 0;
}

/* overflowMessage of partition.ts: which block failed, and what would fit instead. */
static void overflow_message(const struct ll_partition *p, struct ll_sb *m)
{
	const struct ll_net_cfg *cfg = p->cfg;
	const struct ll_spec *s = &p->spec;
	const struct ll_arena *a = p->arena;
	uint64_t cap = a->capacity, needed = 0, b = 0;
	uint32_t fit_batch = 0, fit_start = 0, st;
	int has_batch = 0, has_start = 0;

	footprint_total(cfg, p->shapes, s->start, s->end, s->max_batch, s->train,
			s->train && s->input_delta, &needed);
	if (!footprint_total(cfg, p->shapes, s->start, s->end, 1, s->train, s->train && s->input_delta, &b) &&
	    b <= cap) {
		uint32_t lo = 1, hi = s->max_batch;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo + 1) / 2;

			if (!footprint_total(cfg, p->shapes, s->start, s->end, mid, s->train,
					     s->train && s->input_delta, &b) && b <= cap)
				lo = mid;
			else
				hi = mid - 1;
		}
		fit_batch = lo;
		has_batch = 1;
	}
	for (st = s->start + 1; st <= s->end; st++) {
		int below = 0;
		uint32_t i;

		for (i = 0; i < st; i++)
			if (trainable_type(cfg->layers[i].type))
				below = 1;
		if (!footprint_total(cfg, p->shapes, st, s->end, s->max_batch, s->train,
				     s->train && below, &b) && b <= cap) {
			fit_start = st;
			has_start = 1;
			break;
		}
	}
	ll_sb_str(m, "secure memory exhausted at layer ");
	ll_sb_i64(m, a->fail_layer);
	ll_sb_str(m, " (");
	ll_sb_str(m, a->fail_layer >= 0 && (size_t)a->fail_layer < cfg->nlayers ?
			     ll_layer_type_name(cfg->layers[a->fail_layer].type) : "partition I/O");
	ll_sb_str(m, ") buffer '");
	ll_sb_str(m, a->fail_buffer);
	ll_sb_str(m, "': needs ");
	ll_sb_bytes(m, a->fail_needed);
	ll_sb_str(m, ", ");
	ll_sb_bytes(m, a->fail_available);
	ll_sb_str(m, " of ");
	ll_sb_bytes(m, cap);
	ll_sb_str(m, " free; this partition (layers ");
	ll_sb_u64(m, s->start);
	ll_sb_str(m, ":");
	ll_sb_u64(m, s->end);
	ll_sb_str(m, ", ");
	ll_sb_u64(m, s->max_batch);
	ll_sb_str(m, s->max_batch == 1 ? " image" : " images");
	ll_sb_str(m, " per forward, ");
	ll_sb_str(m, s->train ? "training" : "inference");
	ll_sb_str(m, ") needs ");
	ll_sb_bytes(m, needed);
	ll_sb_str(m, " in all. ");
	/* the tips, each starting with a capital, joined by '. ' */
	if (has_batch) {
		ll_sb_str(m, "The largest batch that fits is ");
		ll_sb_u64(m, fit_batch);
		ll_sb_str(m, " images per forward (--batch ");
		ll_sb_u64(m, fit_batch);
		ll_sb_str(m, "; or keep the batch and raise --subdivisions until batch/subdivisions \xe2\x89\xa4 ");
		ll_sb_u64(m, fit_batch);
		ll_sb_str(m, ")");
	} else {
		ll_sb_str(m, "Not even one image per forward fits this range");
	}
	if (has_start || s->start < s->end)
		ll_sb_str(m, ". ");
	if (has_start) {
		ll_sb_str(m, "At ");
		ll_sb_u64(m, s->max_batch);
		ll_sb_str(m, " images per forward the longest range ending at layer ");
		ll_sb_u64(m, s->end);
		ll_sb_str(m, " that fits is ");
		ll_sb_u64(m, fit_start);
		ll_sb_str(m, ":");
		ll_sb_u64(m, s->end);
		ll_sb_str(m, " (--tee-layers ");
		ll_sb_u64(m, fit_start);
		ll_sb_str(m, ":");
		ll_sb_u64(m, s->end);
		ll_sb_str(m, ")");
	} else if (s->start < s->end) {
		ll_sb_str(m, "No shorter range ending at layer ");
		ll_sb_u64(m, s->end);
		ll_sb_str(m, " fits at ");
		ll_sb_u64(m, s->max_batch);
		ll_sb_str(m, " images per forward");
	}
	ll_sb_str(m, ".");
}

/* ---------------------------------------------------------------------------------------- */
/* Building */

static int unsupported(struct ll_sb *msg, size_t i, const struct ll_layer_cfg *l, const char *what)
{
	ll_sb_str(msg, "layer ");
	ll_sb_u64(msg, i);
	ll_sb_str(msg, " (");
	ll_sb_str(msg, ll_layer_type_name(l->type));
	ll_sb_str(msg, "): ");
	ll_sb_str(msg, what);
	ll_sb_str(msg, " is not implemented in the C TA yet (the software TA has it)");
	return -1;
}

/* What the C TA cannot run inside the range, refused before any memory is taken. */
static int check_supported(const struct ll_net_cfg *cfg, const struct ll_spec *s, struct ll_sb *msg)
{
	uint32_t i;

	for (i = s->start; i <= s->end; i++) {
		const struct ll_layer_cfg *l = &cfg->layers[i];

		if (!trainable_type(l->type))
			continue;
		if (l->activation == LL_CFG_ACT_TANH)
			return unsupported(msg, i, l, "the tanh activation");
	}
	if (s->train && (cfg->burn_in > 0 || (cfg->policy != LL_LR_CONSTANT && cfg->policy != LL_LR_STEPS))) {
		ll_sb_str(msg, "training with learning-rate burn-in or a policy other than constant and steps is not implemented in the C TA yet (it needs pow/exp equal to V8's)");
		return -1;
	}
	return 0;
}

/* The arenaAllocator of arena.ts: in inference the training-only buffers cost nothing. */
struct alloc {
	struct ll_arena *arena;
	int train;
	int failed;
};

static void *take(struct alloc *al, int32_t layer, const char *buffer, uint64_t bytes,
		  int training_only)
{
	uint64_t off = 0;

	if (al->failed || (training_only && !al->train))
		return NULL;
	if (ll_arena_reserve(al->arena, layer, buffer, bytes, &off) != LL_ARENA_OK) {
		al->failed = 1;
		return NULL;
	}
	return al->arena->memory + off;
}

/*
 * A leaky slope the kernels do not have (kernelActivation of src/nn/activation.ts): the layer runs
 * with a linear epilogue and the slope is applied after it, as the engine does.
 */
static int own_slope(const struct ll_layer_cfg *l)
{
	return l->activation == LL_CFG_ACT_LEAKY && l->has_slope && l->slope != DARKNET_LEAKY_SLOPE;
}

/* makeBatchNorm of src/nn/batchnorm.ts, right after the layer's bias updates */
static void take_batchnorm(struct alloc *al, struct ll_player *y, uint64_t channels, uint64_t outs)
{
	int32_t i = y->index;

	if (!y->cfg->batch_normalize)
		return;
	y->has_bn = 1;
	y->bn.scales = take(al, i, "scales", 4 * channels, 0);
	y->bn.scale_updates = take(al, i, "scale_updates", 4 * channels, 1);
	y->bn.rolling_mean = take(al, i, "rolling_mean", 4 * channels, 0);
	y->bn.rolling_variance = take(al, i, "rolling_variance", 4 * channels, 0);
	y->bn.mean = take(al, i, "bn_mean", 4 * channels, 1);
	y->bn.variance = take(al, i, "bn_variance", 4 * channels, 1);
	y->bn.x_norm = take(al, i, "x_norm", 4 * outs, 1);
}

static void build_layer(struct ll_partition *p, struct alloc *al, struct ll_player *y)
{
	const struct ll_layer_cfg *l = y->cfg;
	int32_t i = y->index;
	uint64_t outs = (uint64_t)p->spec.max_batch * y->out_size;

	/* the software TA's layer constructors, buffer by buffer, in their order */
	y->output = take(al, i, "output", 4 * outs, 0);
	y->delta = take(al, i, "delta", 4 * outs, 1);
	switch (l->type) {
	case LL_LAYER_CONVOLUTIONAL: {
		struct ll_conv *c = &y->conv;
		uint64_t nw = (uint64_t)l->filters * (uint64_t)y->in.c * (uint64_t)l->size * (uint64_t)l->size;

		c->g.channels = y->in.c;
		c->g.height = y->in.h;
		c->g.width = y->in.w;
		c->g.filters = l->filters;
		c->g.size = l->size;
		c->g.stride = l->stride;
		c->g.padding = l->padding;
		c->g.out_height = y->out.h;
		c->g.out_width = y->out.w;
		c->activation = own_slope(l) ? LL_ACT_LINEAR : (enum ll_activation)l->activation;
		c->weights = take(al, i, "weights", 4 * nw, 0);
		c->weight_updates = take(al, i, "weight_updates", 4 * nw, 1);
		c->biases = take(al, i, "biases", 4 * (uint64_t)l->filters, 0);
		c->bias_updates = take(al, i, "bias_updates", 4 * (uint64_t)l->filters, 1);
		c->output = y->output;
		c->delta = y->delta;
		take_batchnorm(al, y, (uint64_t)l->filters, outs);
		break;
	}
	case LL_LAYER_CONNECTED: {
		struct ll_connected *f = &y->fc;

		f->inputs = y->in_size;
		f->outputs = (size_t)l->output;
		f->activation = own_slope(l) ? LL_ACT_LINEAR : (enum ll_activation)l->activation;
		f->weights = take(al, i, "weights", 4 * (uint64_t)f->outputs * f->inputs, 0);
		f->weight_updates = take(al, i, "weight_updates", 4 * (uint64_t)f->outputs * f->inputs, 1);
		f->biases = take(al, i, "biases", 4 * (uint64_t)f->outputs, 0);
		f->bias_updates = take(al, i, "bias_updates", 4 * (uint64_t)f->outputs, 1);
		f->output = y->output;
		f->delta = y->delta;
		take_batchnorm(al, y, (uint64_t)f->outputs, outs);
		break;
	}
	case LL_LAYER_MAXPOOL:
		ll_pool_geometry_init(&y->pool, y->in.c, y->in.h, y->in.w, l->size, l->stride,
				      l->padding, l->ceil_mode);
		y->argmax = take(al, i, "argmax", 4 * outs, 0);
		break;
	case LL_LAYER_LOCAL_AVGPOOL:
		ll_pool_geometry_init(&y->pool, y->in.c, y->in.h, y->in.w, l->size, l->stride,
				      l->padding, l->ceil_mode);
		break;
	case LL_LAYER_DROPOUT:
		y->keep = take(al, i, "dropout_mask", outs, 1);
		break;
	default:
		break;
	}
}

/* Network.initialise: each trainable layer from Rng(seed, 'init', index); BN scales 1 */
static void initialise(struct ll_partition *p)
{
	size_t k, j;

	for (k = 0; k < p->n; k++) {
		struct ll_player *y = &p->layers[k];
		size_t ch = y->cfg->type == LL_LAYER_CONVOLUTIONAL ? (size_t)y->cfg->filters : (size_t)y->cfg->output;

		if (y->has_bn)
			for (j = 0; j < ch; j++) {
				y->bn.scales[j] = 1.0f;
				y->bn.rolling_mean[j] = 0.0f;
				y->bn.rolling_variance[j] = 1.0f;
				if (y->bn.scale_updates)
					y->bn.scale_updates[j] = 0.0f;
			}

		if (y->cfg->type == LL_LAYER_CONVOLUTIONAL) {
			struct ll_conv *c = &y->conv;
			size_t nw = (size_t)c->g.filters * (size_t)c->g.channels * (size_t)c->g.size * (size_t)c->g.size;

			ll_conv_init(c->weights, nw, ll_sqrt(2.0 / (double)(c->g.size * c->g.size * c->g.channels)),
				     p->spec.seed, (uint32_t)y->index);
			memset(c->biases, 0, 4 * (size_t)c->g.filters);
			if (c->weight_updates) {
				memset(c->weight_updates, 0, 4 * nw);
				memset(c->bias_updates, 0, 4 * (size_t)c->g.filters);
			}
		} else if (y->cfg->type == LL_LAYER_CONNECTED) {
			struct ll_connected *f = &y->fc;

			ll_connected_init(f->weights, f->outputs * f->inputs, ll_sqrt(2.0 / (double)f->inputs),
					  p->spec.seed, (uint32_t)y->index);
			memset(f->biases, 0, 4 * f->outputs);
			if (f->weight_updates) {
				memset(f->weight_updates, 0, 4 * f->outputs * f->inputs);
				memset(f->bias_updates, 0, 4 * f->outputs);
			}
		}
	}
}

TEE_Result ll_partition_build(struct ll_partition *p, const struct ll_net_cfg *cfg,
			      const struct ll_spec *spec, struct ll_arena *arena, struct ll_sb *msg)
{
	struct alloc al;
	uint32_t i;
	uint64_t ws;
	int32_t wl = 0;
	int any_below;
	size_t k;

	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->spec = *spec;
	p->arena = arena;
	if (layer_shapes(cfg, p->shapes, msg))
		return TEE_ERROR_BAD_PARAMETERS;
	if (range_roles(cfg, spec->start, spec->end, &p->roles, msg))
		return TEE_ERROR_BAD_PARAMETERS;
	if (check_supported(cfg, spec, msg))
		return TEE_ERROR_NOT_SUPPORTED;
	ll_arena_reset(arena);
	al.arena = arena;
	al.train = spec->train;
	al.failed = 0;
	p->n = spec->end - spec->start + 1;
	for (i = spec->start; i <= spec->end; i++) {
		struct ll_player *y = &p->layers[i - spec->start];

		y->cfg = &cfg->layers[i];
		y->index = (int32_t)i;
		y->in = p->shapes[i];
		y->out = p->shapes[i + 1];
		y->in_size = shape_size(y->in);
		y->out_size = shape_size(y->out);
		build_layer(p, &al, y);
	}
	p->inputs = shape_size(p->shapes[spec->start]);
	/* Network.outputLayer: the last layer that is not a cost layer (layers[0] at worst) */
	p->out_layer = 0;
	for (k = p->n - 1; k > 0; k--)
		if (p->layers[k].cfg->type != LL_LAYER_COST) {
			p->out_layer = k;
			break;
		}
	p->classes = p->layers[p->out_layer].out_size;
	p->top_values = p->layers[p->n - 1].out_size;
	ws = workspace_need(cfg, p->shapes, spec->start, spec->end, &wl);
	if (ws)
		p->workspace = take(&al, wl, "workspace", ws, 0);
	if (keeps_input(cfg, spec->start, spec->train))
		p->input = take(&al, (int32_t)spec->start, "input", 4 * (uint64_t)spec->max_batch * p->inputs, 0);
	if (spec->train && spec->input_delta)
		p->input_delta = take(&al, (int32_t)spec->start, "input_delta", 4 * (uint64_t)spec->max_batch * p->inputs, 0);
	if (spec->train && p->roles.suffix_outside)
		p->top_delta = take(&al, (int32_t)spec->end, "top_delta", 4 * (uint64_t)spec->max_batch * p->top_values, 0);
	if ((spec->train && p->roles.loss_inside) || p->roles.holds_output)
		p->truth = take(&al, (int32_t)spec->end, "truth", 4 * (uint64_t)spec->max_batch * p->classes, 0);
	if (al.failed) {
		overflow_message(p, msg);
		ll_arena_reset(arena);
		return TEE_ERROR_OUT_OF_MEMORY;
	}
	for (k = 0; k < p->n; k++)
		p->layers[k].conv.col = p->workspace;
	initialise(p);
	/* Network.refreshFreeze with setInputDeltaNeeded(train && inputDelta); nothing is frozen */
	any_below = spec->train && spec->input_delta;
	for (k = 0; k < p->n; k++) {
		p->layers[k].delta_needed = any_below;
		if (trainable_type(p->layers[k].cfg->type))
			any_below = 1;
	}
	return TEE_SUCCESS;
}

/* ---------------------------------------------------------------------------------------- */
/* Running */

size_t ll_partition_forward_output_bytes(const struct ll_partition *p, uint32_t n)
{
	if (p->roles.holds_output) {
		switch (p->spec.policy) {
		case LAYERLOCK_POLICY_TOP1:
			return (size_t)n * 4;
		case LAYERLOCK_POLICY_TOPK:
			return (size_t)n * (p->spec.topk < p->classes ? p->spec.topk : p->classes) * 4;
		default:
			return (size_t)n * p->classes * 4;
		}
	}
	return p->roles.suffix_outside ? (size_t)n * p->top_values * 4 : 0;
}

static void u64_msg(struct ll_sb *m, const char *a, uint64_t x, const char *b)
{
	ll_sb_str(m, a);
	ll_sb_u64(m, x);
	ll_sb_str(m, b);
}

/* Network.forward: layers in order, each reading the one below's output */
static void net_forward(struct ll_partition *p, const float *input, uint32_t n, int train,
			const float *truth)
{
	const float *x = input;
	size_t k;

	for (k = 0; k < p->n; k++) {
		struct ll_player *y = &p->layers[k];
		const struct ll_layer_cfg *l = y->cfg;
		size_t count = (size_t)n * y->out_size;

		switch (l->type) {
		case LL_LAYER_CONVOLUTIONAL:
			if (!y->has_bn) {
				ll_conv_forward(&y->conv, x, n);
				break;
			}
			ll_conv_forward_linear(&y->conv, x, n);
			ll_batchnorm_forward(&y->bn, y->output, n, (size_t)l->filters, y->out_size / (size_t)l->filters, train);
			ll_bias_activate(y->output, y->conv.biases, n, (size_t)l->filters, y->out_size / (size_t)l->filters,
					 y->conv.activation);
			break;
		case LL_LAYER_CONNECTED:
			if (!y->has_bn) {
				ll_connected_forward(&y->fc, x, n);
				break;
			}
			ll_connected_forward_linear(&y->fc, x, n);
			ll_batchnorm_forward(&y->bn, y->output, n, y->fc.outputs, 1, train);
			ll_bias_activate(y->output, y->fc.biases, n, y->fc.outputs, 1, y->fc.activation);
			break;
		case LL_LAYER_MAXPOOL:
			ll_maxpool_forward(&y->pool, n, x, y->output, y->argmax);
			break;
		case LL_LAYER_LOCAL_AVGPOOL:
			ll_local_avgpool_forward(&y->pool, l->count_include_pad, n, x, y->output);
			break;
		case LL_LAYER_AVGPOOL:
			ll_avgpool_forward(x, y->output, (size_t)n * (size_t)y->in.c,
					   (size_t)y->in.h * (size_t)y->in.w);
			break;
		case LL_LAYER_DROPOUT:
			y->last_train = train;
			if (train)
				ll_dropout_train(x, y->output, y->keep, count, l->probability, p->spec.seed,
						 (uint32_t)y->index, p->updates);
			else
				ll_dropout_infer(x, y->output, count);
			break;
		case LL_LAYER_SOFTMAX:
			ll_softmax_forward(x, y->output, n, y->in_size);
			if (truth)
				(void)ll_softmax_cost(truth, y->output, y->delta, count);
			break;
		case LL_LAYER_COST:
			(void)ll_cost_forward((enum ll_cost_type)l->cost_type, x, truth, y->output,
					      y->delta, count);
			break;
		default:
			break;
		}
		if (own_slope(l))
			ll_leaky_slope(y->output, count, l->slope);
		x = y->output;
	}
}

/*
 * checkForward of partition.ts: everything FORWARD would refuse, before anything changes (a
 * TRAIN_STEP checks its request with it before applying a deferred update).
 */
static TEE_Result check_forward(const struct ll_partition *p, const void *activation, size_t bytes,
				uint32_t n, int train, int has_labels, const uint8_t *labels,
				size_t nlabels, struct ll_sb *msg)
{
	const struct ll_spec *s = &p->spec;
	size_t want = (size_t)n * p->inputs * 4, i;

	if (!(n >= 1 && n <= s->max_batch)) {
		u64_msg(msg, "batch of ", n, " images is not within 1..");
		u64_msg(msg, "", s->max_batch, " (the partition's buffers)");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	if (train && !s->train) {
		ll_sb_str(msg, "this partition was configured for inference only");
		return TEE_ERROR_BAD_STATE;
	}
	if (train && p->roles.loss_inside && !has_labels) {
		ll_sb_str(msg, "training with the loss inside the TEE needs the labels");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	if (has_labels && train && !p->roles.loss_inside) {
		ll_sb_str(msg, "no loss layer inside the TEE: training takes no labels");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	if (has_labels && !train && !p->roles.holds_output) {
		ll_sb_str(msg, "the prediction is not made inside the TEE: inference takes no labels");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	if (has_labels && !train && s->policy == LAYERLOCK_POLICY_TOP1) {
		ll_sb_str(msg, "policy top1: no loss leaves the TEE, so inference takes no labels");
		return TEE_ERROR_ACCESS_DENIED;
	}
	if (bytes != want) {
		u64_msg(msg, "activation of ", bytes, " bytes for ");
		u64_msg(msg, "", n, " images; layer ");
		u64_msg(msg, "", s->start, " takes ");
		ll_sb_u64(msg, want);
		return TEE_ERROR_BAD_PARAMETERS;
	}
	/* not kept in secure memory: the first layer reads it where the request put it (an OP-TEE memref) */
	if (!p->input && (uintptr_t)activation % 4) {
		ll_sb_str(msg, "the activation's memory reference is not 4-byte aligned");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	if (has_labels) {
		if (nlabels != n) {
			u64_msg(msg, "", nlabels, " labels for ");
			u64_msg(msg, "", n, " images");
			return TEE_ERROR_BAD_PARAMETERS;
		}
		for (i = 0; i < n; i++)
			if (labels[i] >= p->classes) {
				u64_msg(msg, "label ", labels[i], " of image ");
				u64_msg(msg, "", i, " is not a class (0..");
				u64_msg(msg, "", p->classes - 1, ")");
				return TEE_ERROR_BAD_PARAMETERS;
			}
	}
	return TEE_SUCCESS;
}

TEE_Result ll_partition_forward(struct ll_partition *p, const void *activation, size_t bytes,
				uint32_t n, int train, int has_labels, const uint8_t *labels,
				size_t nlabels, struct ll_sb *msg)
{
	size_t want = (size_t)n * p->inputs * 4, i;
	const float *x;
	const float *truth = NULL;
	TEE_Result res;

	res = check_forward(p, activation, bytes, n, train, has_labels, labels, nlabels, msg);
	if (res != TEE_SUCCESS)
		return res;
	if (p->input) {
		/* kept in secure memory: backward reads it again, after the normal world could change it */
		memcpy(p->input, activation, want);
		x = p->input;
	} else {
		x = activation;
	}
	if (has_labels) {
		/* oneHot of src/data/batches.ts */
		memset(p->truth, 0, 4 * (size_t)n * p->classes);
		for (i = 0; i < n; i++)
			p->truth[i * p->classes + labels[i]] = 1.0f;
		if (train)
			truth = p->truth;
	}
	net_forward(p, x, n, train, truth);
	if (has_labels && p->roles.holds_output) {
		/* scoreProbs of src/nn/train.ts: the cross-entropy of the true classes */
		const float *probs = p->layers[p->out_layer].output;
		double ce = 0;

		for (i = 0; i < n; i++) {
			double q = probs[i * p->classes + labels[i]];

			ce -= ll_log(q > LOG_FLOOR ? q : LOG_FLOOR);
		}
		p->ce_sum += ce;
		p->ce_count += n;
	}
	p->has_last_forward = 1;
	p->last_forward_n = n;
	p->last_forward_train = train;
	return TEE_SUCCESS;
}

void ll_partition_forward_output(const struct ll_partition *p, uint32_t n, void *out)
{
	const float *probs = p->layers[p->out_layer].output;

	if (p->roles.holds_output) {
		switch (p->spec.policy) {
		case LAYERLOCK_POLICY_TOP1:
			ll_output_top1(probs, n, p->classes, out);
			return;
		case LAYERLOCK_POLICY_TOPK:
			ll_output_topk(probs, n, p->classes, p->spec.topk, out);
			return;
		default:
			memcpy(out, probs, (size_t)n * p->classes * 4);
			return;
		}
	}
	memcpy(out, p->layers[p->n - 1].output, (size_t)n * p->top_values * 4);
}

TEE_Result ll_partition_backward(struct ll_partition *p, const void *top_delta, size_t bytes,
				 int has_top_delta, uint32_t n, const float **grad,
				 struct ll_sb *msg)
{
	size_t k, i;
	int top;

	*grad = NULL;
	if (!p->spec.train) {
		ll_sb_str(msg, "this partition was configured for inference only");
		return TEE_ERROR_BAD_STATE;
	}
	if (!p->has_last_forward || !p->last_forward_train || p->last_forward_n != n) {
		u64_msg(msg, "backward of ", n, " images must follow a training forward of the same images");
		return TEE_ERROR_BAD_STATE;
	}
	p->has_last_forward = 0;
	if (p->roles.suffix_outside) {
		size_t want = (size_t)n * p->top_values * 4;

		if (!has_top_delta || bytes != want) {
			u64_msg(msg, "the gradient arriving at layer ", p->spec.end, " must be ");
			u64_msg(msg, "", want, " bytes for ");
			u64_msg(msg, "", n, " images (got ");
			if (has_top_delta)
				ll_sb_u64(msg, bytes);
			else
				ll_sb_str(msg, "none");
			ll_sb_str(msg, ")");
			return TEE_ERROR_BAD_PARAMETERS;
		}
		memcpy(p->top_delta, top_delta, want);
	} else if (has_top_delta) {
		u64_msg(msg, "layer ", p->spec.end, " is the network's last: no gradient arrives from above");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	if (p->input_delta)
		memset(p->input_delta, 0, 4 * (size_t)n * p->inputs);
	/* Network.backward: loss layers keep the delta their forward set; the others start at 0 */
	for (k = 0; k < p->n; k++) {
		enum ll_layer_type t = p->layers[k].cfg->type;

		if (t != LL_LAYER_SOFTMAX && t != LL_LAYER_COST)
			memset(p->layers[k].delta, 0, 4 * (size_t)n * p->layers[k].out_size);
	}
	if (p->roles.suffix_outside) {
		struct ll_player *y = &p->layers[p->n - 1];
		size_t count = (size_t)n * y->out_size;

		for (i = 0; i < count; i++)
			y->delta[i] = (float)((double)y->delta[i] + (double)p->top_delta[i]);
	}
	for (top = (int)p->n - 1; top >= 0; top--) {
		struct ll_player *y = &p->layers[top];
		const struct ll_layer_cfg *l = y->cfg;
		const float *prev_in = top == 0 ? p->input : p->layers[top - 1].output;
		float *prev_delta = !y->delta_needed ? NULL : top > 0 ? p->layers[top - 1].delta : p->input_delta;
		size_t count = (size_t)n * y->out_size;

		if (!y->delta_needed && !trainable_type(l->type))
			break;
		if (own_slope(l)) /* then the layer's own (linear) activation gradient is the identity */
			ll_leaky_slope_gradient(y->output, y->delta, count, l->slope);
		switch (l->type) {
		case LL_LAYER_CONVOLUTIONAL:
			if (!y->has_bn) {
				ll_conv_backward(&y->conv, prev_in, prev_delta, n, 0);
				break;
			}
			/* ConvolutionalLayer.backward: activation, bias, batch norm, then filters and data */
			ll_activation_gradient(y->conv.activation, y->output, y->delta, count);
			ll_bias_gradient(y->conv.bias_updates, y->delta, n, (size_t)l->filters, y->out_size / (size_t)l->filters);
			ll_batchnorm_backward(&y->bn, y->delta, n, (size_t)l->filters, y->out_size / (size_t)l->filters, 0);
			ll_conv_backward_linear(&y->conv, prev_in, prev_delta, n, 0);
			break;
		case LL_LAYER_CONNECTED:
			if (!y->has_bn) {
				ll_connected_backward(&y->fc, prev_in, prev_delta, n, 0);
				break;
			}
			ll_activation_gradient(y->fc.activation, y->output, y->delta, count);
			ll_bias_gradient(y->fc.bias_updates, y->delta, n, y->fc.outputs, 1);
			ll_batchnorm_backward(&y->bn, y->delta, n, y->fc.outputs, 1, 0);
			ll_connected_backward_linear(&y->fc, prev_in, prev_delta, n, 0);
			break;
		case LL_LAYER_MAXPOOL:
			if (prev_delta)
				ll_maxpool_backward(count, y->delta, y->argmax, prev_delta);
			break;
		case LL_LAYER_LOCAL_AVGPOOL:
			if (prev_delta)
				ll_local_avgpool_backward(&y->pool, l->count_include_pad, n, y->delta, prev_delta);
			break;
		case LL_LAYER_AVGPOOL:
			if (prev_delta)
				ll_avgpool_backward(y->delta, prev_delta, (size_t)n * (size_t)y->in.c,
						    (size_t)y->in.h * (size_t)y->in.w);
			break;
		case LL_LAYER_DROPOUT:
			if (prev_delta)
				ll_dropout_backward(y->delta, y->keep, prev_delta, count, l->probability,
						    y->last_train);
			break;
		case LL_LAYER_SOFTMAX:
			if (prev_delta)
				ll_softmax_backward(y->delta, prev_delta, count);
			break;
		case LL_LAYER_COST:
			if (prev_delta)
				ll_cost_backward(y->delta, prev_delta, count, l->scale);
			break;
		default:
			break;
		}
	}
	p->trained_since_update += n;
	*grad = p->input_delta;
	return TEE_SUCCESS;
}

/* learningRateAt of src/nn/lr.ts for the policies the C TA trains with (constant, steps) */
static double learning_rate_at(const struct ll_net_cfg *c, uint32_t batch_num)
{
	double rate = c->learning_rate;
	size_t i;

	if (c->policy != LL_LR_STEPS)
		return rate;
	for (i = 0; i < c->nsteps; i++) {
		if ((int64_t)c->steps[i] > (int64_t)batch_num)
			return rate;
		rate *= c->scales[i];
	}
	return rate;
}

TEE_Result ll_partition_update(struct ll_partition *p, uint32_t images, uint32_t expected,
			       struct ll_sb *msg)
{
	const struct ll_net_cfg *c = p->cfg;
	double lr;
	size_t k;

	if (!p->spec.train) {
		ll_sb_str(msg, "this partition was configured for inference only");
		return TEE_ERROR_BAD_STATE;
	}
	if (images < 1) {
		u64_msg(msg, "an update needs at least one image (got ", images, ")");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	if (expected != p->updates) {
		u64_msg(msg, "the worlds are out of step: the normal world is at update ", expected, ", the TEE at ");
		ll_sb_u64(msg, p->updates);
		return TEE_ERROR_BAD_STATE;
	}
	lr = learning_rate_at(c, p->updates);
	for (k = 0; k < p->n; k++) {
		struct ll_player *y = &p->layers[k];

		/* the order of the layers' update(): biases, then weights (with decay) */
		if (y->cfg->type == LL_LAYER_CONVOLUTIONAL) {
			struct ll_conv *cv = &y->conv;
			size_t nw = (size_t)cv->g.filters * (size_t)cv->g.channels * (size_t)cv->g.size * (size_t)cv->g.size;

			ll_sgd_update(cv->biases, cv->bias_updates, (size_t)cv->g.filters, lr, c->momentum, c->decay, images, 0);
			if (y->has_bn)
				ll_sgd_update(y->bn.scales, y->bn.scale_updates, (size_t)cv->g.filters, lr, c->momentum, c->decay, images, 0);
			ll_sgd_update(cv->weights, cv->weight_updates, nw, lr, c->momentum, c->decay, images, 1);
		} else if (y->cfg->type == LL_LAYER_CONNECTED) {
			struct ll_connected *f = &y->fc;

			ll_sgd_update(f->biases, f->bias_updates, f->outputs, lr, c->momentum, c->decay, images, 0);
			ll_sgd_update(f->weights, f->weight_updates, f->outputs * f->inputs, lr, c->momentum, c->decay, images, 1);
			if (y->has_bn)
				ll_sgd_update(y->bn.scales, y->bn.scale_updates, f->outputs, lr, c->momentum, c->decay, images, 0);
		}
	}
	p->updates++;
	p->trained_since_update = 0;
	return TEE_SUCCESS;
}

TEE_Result ll_partition_train_step(struct ll_partition *p, const void *activation, size_t bytes,
				   uint32_t n, int has_labels, const uint8_t *labels, size_t nlabels,
				   uint32_t deferred, const float **grad, struct ll_sb *msg)
{
	TEE_Result res;

	*grad = NULL;
	res = check_forward(p, activation, bytes, n, 1, has_labels, labels, nlabels, msg);
	if (res != TEE_SUCCESS)
		return res;
	if (deferred) {
		/* no update count travels with it: the images trained since the last update stand in */
		if (deferred != p->trained_since_update) {
			u64_msg(msg, "the worlds are out of step: the normal world defers an update of ", deferred, " images, the TEE trained on ");
			u64_msg(msg, "", p->trained_since_update, " since update ");
			ll_sb_u64(msg, p->updates);
			return TEE_ERROR_BAD_STATE;
		}
		res = ll_partition_update(p, deferred, p->updates, msg);
		if (res != TEE_SUCCESS)
			return res;
	}
	res = ll_partition_forward(p, activation, bytes, n, 1, has_labels, labels, nlabels, msg);
	if (res != TEE_SUCCESS)
		return res;
	return ll_partition_backward(p, NULL, 0, 0, n, grad, msg);
}

TEE_Result ll_partition_take_loss(struct ll_partition *p, double *sum, double *count,
				  struct ll_sb *msg)
{
	if (p->spec.policy == LAYERLOCK_POLICY_TOP1) {
		ll_sb_str(msg, "policy top1: the loss never leaves the TEE");
		return TEE_ERROR_ACCESS_DENIED;
	}
	*sum = p->ce_sum;
	*count = p->ce_count;
	p->ce_sum = 0;
	p->ce_count = 0;
	return TEE_SUCCESS;
}

/* ---------------------------------------------------------------------------------------- */
/* Darknet .weights of the range (src/nn/weights.ts), per trainable layer in file order */

/*
 * The layer's arrays in .weights order: convolutional biases, [scales, rolling mean, rolling
 * variance], weights; connected biases, weights, [scales, rolling mean, rolling variance].
 * Returns how many (0 for a layer without parameters); *weights_at is the weights' position.
 */
static size_t file_arrays(const struct ll_player *y, float **arr, size_t *len, size_t *weights_at)
{
	const struct ll_batchnorm *bn = &y->bn;
	size_t n = 0, ch, nw;
	float *biases, *weights;

	if (y->cfg->type == LL_LAYER_CONVOLUTIONAL) {
		const struct ll_conv_geometry *g = &y->conv.g;

		ch = (size_t)g->filters;
		nw = ch * (size_t)g->channels * (size_t)g->size * (size_t)g->size;
		biases = y->conv.biases;
		weights = y->conv.weights;
	} else if (y->cfg->type == LL_LAYER_CONNECTED) {
		ch = y->fc.outputs;
		nw = ch * y->fc.inputs;
		biases = y->fc.biases;
		weights = y->fc.weights;
	} else {
		return 0;
	}
	arr[n] = biases;
	len[n++] = ch;
	if (y->cfg->type == LL_LAYER_CONNECTED) {
		*weights_at = n;
		arr[n] = weights;
		len[n++] = nw;
	}
	if (y->has_bn) {
		arr[n] = bn->scales;
		len[n++] = ch;
		arr[n] = bn->rolling_mean;
		len[n++] = ch;
		arr[n] = bn->rolling_variance;
		len[n++] = ch;
	}
	if (y->cfg->type == LL_LAYER_CONVOLUTIONAL) {
		*weights_at = n;
		arr[n] = weights;
		len[n++] = nw;
	}
	return n;
}

static size_t layer_bytes(const struct ll_player *y)
{
	float *arr[5];
	size_t len[5], w = 0, n = file_arrays(y, arr, len, &w), i, total = 0;

	for (i = 0; i < n; i++)
		total += 4 * len[i];
	return total;
}

size_t ll_partition_weights_bytes(const struct ll_partition *p)
{
	size_t k, total = 20;

	for (k = 0; k < p->n; k++)
		total += layer_bytes(&p->layers[k]);
	return total;
}

TEE_Result ll_partition_check_export(const struct ll_partition *p, struct ll_sb *msg)
{
	if (p->spec.policy != LAYERLOCK_POLICY_FULL && !p->spec.allow_export) {
		ll_sb_str(msg, "policy ");
		ll_sb_str(msg, ll_policy_name(p->spec.policy));
		ll_sb_str(msg, ": the protected layers do not leave the TEE in plaintext (configure with the development export flag, or policy full)");
		return TEE_ERROR_ACCESS_DENIED;
	}
	return TEE_SUCCESS;
}

size_t ll_weights_header_bytes(uint64_t major, uint64_t minor)
{
	return major * 10 + minor >= 2 && major < 1000 && minor < 1000 ? 20 : 16;
}

void ll_partition_export(const struct ll_partition *p, uint8_t *out)
{
	size_t k, i, off = 20;

	/* DARKNET_WEIGHTS_VERSION 0.2.0, seen 0 as a uint64 */
	memset(out, 0, 20);
	ll_put_le32(out + 4, 2);
	for (k = 0; k < p->n; k++) {
		float *arr[5];
		size_t len[5], w = 0, n = file_arrays(&p->layers[k], arr, len, &w);

		/* raw bytes: every bit pattern travels unchanged (little-endian hosts: Arm, x86) */
		for (i = 0; i < n; i++) {
			memcpy(out + off, arr[i], 4 * len[i]);
			off += 4 * len[i];
		}
	}
}

TEE_Result ll_partition_load(struct ll_partition *p, const uint8_t *bytes, size_t len,
			     struct ll_sb *msg)
{
	int32_t major, minor, revision;
	size_t hsize, need, k, nf, off;
	int transpose;

#define SOURCE(m) do { \
		ll_sb_str(m, "parameters for layers "); \
		ll_sb_u64(m, p->spec.start); \
		ll_sb_str(m, ":"); \
		ll_sb_u64(m, p->spec.end); \
	} while (0)
	if (len < 16) {
		SOURCE(msg);
		u64_msg(msg, ": not a Darknet weights file: ", len, " bytes, shorter than the smallest header (16 bytes)");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	major = (int32_t)ll_get_le32(bytes);
	minor = (int32_t)ll_get_le32(bytes + 4);
	revision = (int32_t)ll_get_le32(bytes + 8);
	if (major < 0 || minor < 0 || revision < 0) {
		SOURCE(msg);
		ll_sb_str(msg, ": not a Darknet weights file: header version ");
		ll_sb_i64(msg, major);
		ll_sb_str(msg, ".");
		ll_sb_i64(msg, minor);
		ll_sb_str(msg, ".");
		ll_sb_i64(msg, revision);
		ll_sb_str(msg, " is negative");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	/* connectedTransposed of weights.ts */
	hsize = ll_weights_header_bytes((uint64_t)major, (uint64_t)minor);
	transpose = major > 1000 || minor > 1000;
	if (len < hsize) {
		SOURCE(msg);
		u64_msg(msg, ": truncated header: ", len, " bytes, version ");
		ll_sb_i64(msg, major);
		ll_sb_str(msg, ".");
		ll_sb_i64(msg, minor);
		u64_msg(msg, " needs ", hsize, "");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	if (hsize == 20) {
		uint64_t seen = (uint64_t)ll_get_le32(bytes + 12) | (uint64_t)ll_get_le32(bytes + 16) << 32;

		if (seen > 9007199254740991ULL) {
			SOURCE(msg);
			u64_msg(msg, ": bad header: seen=", seen, " is implausibly large (not a Darknet weights file?)");
			return TEE_ERROR_BAD_PARAMETERS;
		}
	}
	need = hsize;
	for (k = 0; k < p->n; k++)
		need += layer_bytes(&p->layers[k]);
	if (len < need) {
		size_t end = hsize;

		for (k = 0; k < p->n; k++) {
			nf = layer_bytes(&p->layers[k]);
			if (!nf)
				continue;
			end += nf;
			if (end > len)
				break;
		}
		SOURCE(msg);
		u64_msg(msg, ": truncated: layer ", (uint64_t)p->layers[k].index, " (");
		ll_sb_str(msg, ll_layer_type_name(p->layers[k].cfg->type));
		u64_msg(msg, ") needs ", end - len, " more bytes of weights, file ends at byte ");
		u64_msg(msg, "", len, " (the cfg's layers need ");
		u64_msg(msg, "", need, " bytes; the file is cut short or was saved for a different cfg)");
		return TEE_ERROR_BAD_PARAMETERS;
	}
	if (len > need) {
		SOURCE(msg);
		u64_msg(msg, " has ", len - need, " bytes more than the cfg's layers need: weights do not match the cfg (file ");
		u64_msg(msg, "", len, " bytes, cfg needs ");
		u64_msg(msg, "", need, ")");
		return TEE_ERROR_BAD_PARAMETERS;
	}
#undef SOURCE
	/* everything is known to fit: only now touch the layers */
	off = hsize;
	for (k = 0; k < p->n; k++) {
		const struct ll_player *y = &p->layers[k];
		float *arr[5];
		size_t lens[5], w = 0, n = file_arrays(y, arr, lens, &w), i;

		for (i = 0; i < n; i++) {
			if (transpose && y->cfg->type == LL_LAYER_CONNECTED && i == w) {
				/* stored inputs × outputs: transpose the raw patterns into outputs × inputs */
				size_t rows = y->fc.inputs, cols = y->fc.outputs, r, c;

				for (r = 0; r < rows; r++)
					for (c = 0; c < cols; c++)
						memcpy(&arr[i][c * rows + r], bytes + off + 4 * (r * cols + c), 4);
			} else {
				memcpy(arr[i], bytes + off, 4 * lens[i]);
			}
			off += 4 * lens[i];
		}
	}
	return TEE_SUCCESS;
}

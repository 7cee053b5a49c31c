/* The layerlock TA's .cfg reader: see include/layerlock_cfg.h (src/nn/cfg.ts in C). */
#include <string.h>
#include <layerlock_cfg.h>
#include <layerlock_cost.h>
#include <layerlock_strbuf.h>

/* Exact comparisons are the engine's (a neutral value is matched exactly): intended. */
#pragma GCC diagnostic ignored "-Wfloat-equal"

#define FILE_NAME "cfg from the normal world" /* what the software TA calls it */
#define MAX_ENTRIES 96
#define MAX_CHARS 8192 /* of one section's keys and values */
#define INT32_MAX_V 2147483647

struct entry {
	const char *key, *value; /* into struct section's chars, NUL-terminated */
	int32_t line;
	int used;
};

struct section {
	char name[64];
	int32_t line;
	size_t n;
	struct entry e[MAX_ENTRIES];
	char chars[MAX_CHARS];
	size_t nchars;
};

struct parser {
	const char *text;
	size_t len, pos;
	int32_t line;
	int done;
	char buf[1024]; /* the current line, whitespace removed */
	size_t blen;
	int too_long;
	struct ll_sb err;
	struct section sec;
};

const char *ll_layer_type_name(enum ll_layer_type t)
{
	static const char *const names[] = { "convolutional", "connected", "maxpool", "local_avgpool",
					     "avgpool", "dropout", "softmax", "cost" };

	return (unsigned)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

/* ---------------------------------------------------------------------------------------- */
/* Errors: CfgError's "file:line: what". Each helper returns -1 so callers can `return fail(...)`. */

static void err_start(struct parser *p, int32_t line)
{
	ll_sb_init(&p->err, p->err.buf, p->err.cap);
	ll_sb_str(&p->err, FILE_NAME);
	if (line > 0) {
		ll_sb_str(&p->err, ":");
		ll_sb_i64(&p->err, line);
	}
	ll_sb_str(&p->err, ": ");
}

static int fail_entry(struct parser *p, const struct entry *e, const char *what)
{
	err_start(p, e->line);
	ll_sb_str(&p->err, "[");
	ll_sb_str(&p->err, p->sec.name);
	ll_sb_str(&p->err, "] key '");
	ll_sb_str(&p->err, e->key);
	ll_sb_str(&p->err, "=");
	ll_sb_str(&p->err, e->value);
	ll_sb_str(&p->err, "' ");
	ll_sb_str(&p->err, what);
	return -1;
}

static int fail_entry_num(struct parser *p, const struct entry *e, const char *what, int64_t v)
{
	fail_entry(p, e, what);
	ll_sb_i64(&p->err, v);
	return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Lexing, line by line (lines end at \r\n, \n or \r, as the engine splits them). */

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/*
 * Reads the next line into p->buf without whitespace; 0 after the last one. As split() does,
 * a text of k line breaks has k + 1 lines (the last one empty after a final newline).
 */
static int next_line(struct parser *p)
{
	if (p->done)
		return 0;
	p->line++;
	p->blen = 0;
	p->too_long = 0;
	for (;;) {
		unsigned char c;

		if (p->pos == p->len) {
			p->done = 1;
			break;
		}
		c = (unsigned char)p->text[p->pos++];
		if (c == '\n')
			break;
		if (c == '\r') {
			if (p->pos < p->len && p->text[p->pos] == '\n')
				p->pos++;
			break;
		}
		if (is_space(c))
			continue;
		if (p->blen + 1 < sizeof(p->buf))
			p->buf[p->blen++] = (char)c;
		else
			p->too_long = 1;
	}
	p->buf[p->blen] = '\0';
	return 1;
}

static void lex_reset(struct parser *p)
{
	p->pos = 0;
	p->line = 0;
	p->done = 0;
	/* a UTF-8 byte order mark is not part of the first line (the engine drops U+FEFF) */
	if (p->len >= 3 && (unsigned char)p->text[0] == 0xef && (unsigned char)p->text[1] == 0xbb &&
	    (unsigned char)p->text[2] == 0xbf)
		p->pos = 3;
}

enum line_kind { LINE_SKIP, LINE_SECTION, LINE_ENTRY };

/* Classifies p->buf; on LINE_SECTION/LINE_ENTRY *eq is the '=' position (entries). */
static int classify(struct parser *p, int have_section, enum line_kind *kind, size_t *eq)
{
	size_t i;

	if (p->too_long) {
		err_start(p, p->line);
		ll_sb_str(&p->err, "line longer than the C TA's reader takes (1023 characters without spaces)");
		return -1;
	}
	if (p->blen == 0 || p->buf[0] == '#' || p->buf[0] == ';') {
		*kind = LINE_SKIP;
		return 0;
	}
	if (p->buf[0] == '[') {
		int ok = p->blen >= 3 && p->buf[p->blen - 1] == ']';

		for (i = 1; ok && i + 1 < p->blen; i++)
			if (p->buf[i] == '[' || p->buf[i] == ']' || p->buf[i] == '=')
				ok = 0;
		if (!ok) {
			err_start(p, p->line);
			ll_sb_str(&p->err, "malformed section header '");
			ll_sb_str(&p->err, p->buf);
			ll_sb_str(&p->err, "' (expected e.g. [convolutional])");
			return -1;
		}
		*kind = LINE_SECTION;
		return 0;
	}
	for (i = 0; i < p->blen && p->buf[i] != '='; i++)
		;
	if (i == p->blen) {
		err_start(p, p->line);
		ll_sb_str(&p->err, "expected 'key=value', a [section] header or a # comment, found '");
		ll_sb_str(&p->err, p->buf);
		ll_sb_str(&p->err, "'");
		return -1;
	}
	if (i == 0) {
		err_start(p, p->line);
		ll_sb_str(&p->err, "'");
		ll_sb_str(&p->err, p->buf);
		ll_sb_str(&p->err, "' has no key before '='");
		return -1;
	}
	if (!have_section) {
		err_start(p, p->line);
		ll_sb_str(&p->err, "key '");
		ll_sb_strn(&p->err, p->buf, i);
		ll_sb_str(&p->err, "' appears before any section (the file must start with [net])");
		return -1;
	}
	if (i + 1 == p->blen) {
		err_start(p, p->line);
		ll_sb_str(&p->err, "[");
		ll_sb_str(&p->err, p->sec.name);
		ll_sb_str(&p->err, "] key '");
		ll_sb_strn(&p->err, p->buf, i);
		ll_sb_str(&p->err, "' has no value");
		return -1;
	}
	*kind = LINE_ENTRY;
	*eq = i;
	return 0;
}

static void begin_section(struct parser *p)
{
	size_t n = p->blen - 2;

	if (n >= sizeof(p->sec.name))
		n = sizeof(p->sec.name) - 1;
	memcpy(p->sec.name, p->buf + 1, n);
	p->sec.name[n] = '\0';
	p->sec.line = p->line;
	p->sec.n = 0;
	p->sec.nchars = 0;
}

static const struct entry *find(const struct parser *p, const char *key)
{
	size_t i;

	for (i = 0; i < p->sec.n; i++)
		if (!strcmp(p->sec.e[i].key, key))
			return &p->sec.e[i];
	return NULL;
}

static int add_entry(struct parser *p, size_t eq)
{
	struct section *s = &p->sec;
	size_t i;

	/* Darknet's option_find returns the first: a repeated key is unused (a warning in the engine) */
	for (i = 0; i < s->n; i++)
		if (strlen(s->e[i].key) == eq && !memcmp(s->e[i].key, p->buf, eq))
			return 0;
	if (s->n == MAX_ENTRIES || s->nchars + p->blen + 2 > MAX_CHARS) {
		err_start(p, p->line);
		ll_sb_str(&p->err, "[");
		ll_sb_str(&p->err, s->name);
		ll_sb_str(&p->err, "] has more keys than the C TA's reader takes");
		return -1;
	}
	memcpy(s->chars + s->nchars, p->buf, p->blen + 1);
	s->chars[s->nchars + eq] = '\0';
	s->e[s->n].key = s->chars + s->nchars;
	s->e[s->n].value = s->chars + s->nchars + eq + 1;
	s->e[s->n].line = p->line;
	s->e[s->n].used = 0;
	s->n++;
	s->nchars += p->blen + 1;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Numbers: INT_RE and FLOAT_RE of cfg.ts, and Number()'s value where it is exact. */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* /^[+-]?\d+$/, within ±INT32_MAX; 0 ok, -1 not an integer, -2 out of range */
static int read_int(const char *s, int64_t *out)
{
	int neg = 0;
	int64_t v = 0;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (!is_digit(*s))
			return -1;
		if (v <= INT32_MAX_V)
			v = v * 10 + (*s - '0');
	}
	if (v > INT32_MAX_V)
		return -2;
	*out = neg ? -v : v;
	return 0;
}

/*
 * /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/ and its value: 0 ok, -1 not a number,
 * -3 a number this exact reader does not take (see the header).
 */
static int read_float(const char *s, double *out)
{
	static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
					1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
	int neg = 0, digits = 0, sig = 0, overflow = 0;
	uint64_t m = 0;
	int64_t exp10 = 0, e = 0;
	double v;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	for (; is_digit(*s); s++, digits++) {
		if (m == 0 && *s == '0')
			continue;
		if (sig < 19) {
			m = m * 10 + (uint64_t)(*s - '0');
			sig++;
		} else {
			exp10++;
			if (*s != '0')
				overflow = 1;
		}
	}
	if (*s == '.') {
		s++;
		for (; is_digit(*s); s++, digits++) {
			if (m == 0 && *s == '0') {
				exp10--;
				continue;
			}
			if (sig < 19) {
				m = m * 10 + (uint64_t)(*s - '0');
				sig++;
				exp10--;
			} else if (*s != '0') {
				overflow = 1;
			}
		}
	}
	if (!digits)
		return -1;
	if (*s == 'e' || *s == 'E') {
		int eneg = 0, edigits = 0;

		s++;
		if (*s == '+' || *s == '-')
			eneg = *s++ == '-';
		for (; is_digit(*s); s++, edigits++)
			if (e < 100000)
				e = e * 10 + (*s - '0');
		if (!edigits)
			return -1;
		exp10 += eneg ? -e : e;
	}
	if (*s)
		return -1;
	if (m == 0) {
		*out = neg ? -0.0 : 0.0;
		return 0;
	}
	/* trailing zeros of the digits move into the exponent */
	while (m % 10 == 0) {
		m /= 10;
		exp10++;
	}
	if (overflow || m > (1ULL << 53) || exp10 < -22 || exp10 > 22)
		return -3;
	/* both operands exact: one correctly rounded operation, as Number() rounds */
	v = exp10 < 0 ? (double)m / pow10[-exp10] : (double)m * pow10[exp10];
	*out = neg ? -v : v;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Typed access to the current section's keys (SectionReader of cfg.ts). */

struct range {
	int has_min, has_max, has_below, has_above;
	double min, max, below, above;
};

static const struct range NO_RANGE = { 0, 0, 0, 0, 0, 0, 0, 0 };

/* ranges used by value, not returned (the TA dev kit warns about functions returning structs) */
static const struct range MIN0 = { 1, 0, 0, 0, 0, 0, 0, 0 };
static const struct range MIN1 = { 1, 0, 0, 0, 1, 0, 0, 0 };

static int check_range(struct parser *p, const struct entry *e, double v, struct range r)
{
	if (r.has_min && v < r.min)
		return fail_entry_num(p, e, "must be at least ", (int64_t)r.min);
	if (r.has_max && v > r.max)
		return fail_entry_num(p, e, "must be at most ", (int64_t)r.max);
	if (r.has_below && v >= r.below)
		return fail_entry_num(p, e, "must be less than ", (int64_t)r.below);
	if (r.has_above && v <= r.above)
		return fail_entry_num(p, e, "must be greater than ", (int64_t)r.above);
	return 0;
}

static int parse_int_entry(struct parser *p, const struct entry *e, struct range r, int32_t *out)
{
	int64_t v = 0;
	int st = read_int(e->value, &v);

	if (st == -1)
		return fail_entry(p, e, "is not an integer");
	if (st == -2)
		return fail_entry(p, e, "is out of range");
	if (check_range(p, e, (double)v, r))
		return -1;
	*out = (int32_t)v;
	return 0;
}

static int parse_float_entry(struct parser *p, const struct entry *e, struct range r, double *out)
{
	double v = 0;
	int st = read_float(e->value, &v);

	if (st == -1)
		return fail_entry(p, e, "is not a number");
	if (st == -3)
		return fail_entry(p, e, "is a number the C TA's exact decimal reader does not take "
				  "(at most 15 significant digits and a power of ten within 1e-22..1e22)");
	if (check_range(p, e, v, r))
		return -1;
	*out = v;
	return 0;
}

static struct entry *use(struct parser *p, const char *key)
{
	struct entry *e = (struct entry *)find(p, key);

	if (e)
		e->used = 1;
	return e;
}

static int get_int(struct parser *p, const char *key, int32_t def, struct range r, int32_t *out)
{
	struct entry *e = use(p, key);

	if (!e) {
		*out = def;
		return 0;
	}
	return parse_int_entry(p, e, r, out);
}

static int required_int(struct parser *p, const char *key, const char *what, struct range r,
			int32_t *out)
{
	struct entry *e = use(p, key);

	if (!e) {
		err_start(p, p->sec.line);
		ll_sb_str(&p->err, "[");
		ll_sb_str(&p->err, p->sec.name);
		ll_sb_str(&p->err, "] needs '");
		ll_sb_str(&p->err, key);
		ll_sb_str(&p->err, "=' (");
		ll_sb_str(&p->err, what);
		ll_sb_str(&p->err, ")");
		return -1;
	}
	return parse_int_entry(p, e, r, out);
}

static int get_float(struct parser *p, const char *key, double def, struct range r, double *out)
{
	struct entry *e = use(p, key);

	if (!e) {
		*out = def;
		return 0;
	}
	return parse_float_entry(p, e, r, out);
}

/* Darknet's switches: any non-zero integer is on. */
static int get_flag(struct parser *p, const char *key, int *out)
{
	struct entry *e = use(p, key);
	int32_t v = 0;

	*out = 0;
	if (!e)
		return 0;
	if (parse_int_entry(p, e, NO_RANGE, &v))
		return -1;
	*out = v != 0;
	return 0;
}

static int get_activation(struct parser *p, enum ll_cfg_activation *out)
{
	static const char *const ours[] = { "linear", "relu", "leaky", "logistic", "tanh" };
	static const char *const darknet[] = { "loggy", "elu", "selu", "relie", "plse", "hardtan",
					       "lhtan", "ramp", "stair" };
	struct entry *e = use(p, "activation");
	size_t i;

	*out = LL_CFG_ACT_LOGISTIC; /* Darknet's default for conv/connected layers */
	if (!e)
		return 0;
	for (i = 0; i < 5; i++)
		if (!strcmp(e->value, ours[i])) {
			*out = (enum ll_cfg_activation)i;
			return 0;
		}
	for (i = 0; i < sizeof(darknet) / sizeof(darknet[0]); i++)
		if (!strcmp(e->value, darknet[i]))
			return fail_entry(p, e, "is not supported (supported activations: linear, relu, leaky, logistic, tanh)");
	*out = LL_CFG_ACT_RELU; /* an unknown name is relu in Darknet (a warning in the engine) */
	return 0;
}

static int get_leaky_slope(struct parser *p, struct ll_layer_cfg *l)
{
	struct entry *e = use(p, "leaky_slope");
	struct range r = NO_RANGE;

	l->has_slope = 0;
	if (!e)
		return 0;
	if (l->activation != LL_CFG_ACT_LEAKY)
		return fail_entry(p, e, "is only used with activation=leaky");
	r.has_above = 1;
	if (parse_float_entry(p, e, r, &l->slope))
		return -1;
	l->has_slope = 1;
	return 0;
}

static int square_stride(struct parser *p, int32_t stride)
{
	static const char *const keys[] = { "stride_x", "stride_y" };
	size_t i;

	for (i = 0; i < 2; i++) {
		struct entry *e = use(p, keys[i]);
		int32_t v = 0;

		if (!e)
			continue;
		if (parse_int_entry(p, e, MIN1, &v))
			return -1;
		if (v != stride) {
			fail_entry(p, e, "is not supported (it differs from stride=");
			ll_sb_i64(&p->err, stride);
			ll_sb_str(&p->err, "; only square strides are implemented)");
			return -1;
		}
	}
	return 0;
}

/* The rule tables of cfg.ts: keys accepted only with Darknet's neutral value, or rejected. */
struct rule {
	const char *key;
	int reject;
	double neutral;
	const char *why;
};

static const struct rule NET_RULES[] = {
	{ "adam", 0, 0, "the Adam optimiser is not implemented; layerlock trains with SGD + momentum" },
	{ "time_steps", 0, 1, "recurrent time steps are not implemented" },
	{ "notruth", 0, 0, "training without truth is not implemented" },
	{ "clip", 0, 0, "gradient clipping is not implemented" },
	{ "loss_scale", 0, 1, "loss scaling is not implemented" },
	{ "label_smooth_eps", 0, 0, "label smoothing is not implemented" },
	{ "ema_alpha", 0, 0, "exponential moving average of weights is not implemented" },
	{ "dynamic_minibatch", 0, 0, "dynamic mini-batch size is not implemented" },
	{ "contrastive", 0, 0, "contrastive training is not implemented" },
	{ "adversarial_lr", 0, 0, "adversarial training is not implemented" },
	{ NULL, 0, 0, NULL }
};

static const struct rule COMMON_RULES[] = {
	{ "truth", 0, 0, "feeding truth into a layer is not implemented" },
	{ "onlyforward", 0, 0, "forward-only layers are not implemented" },
	{ "stopbackward", 0, 0, "stopping back-propagation at a layer is not implemented" },
	{ "dontsave", 0, 0, "it would leave the layer out of .weights files" },
	{ "dontload", 0, 0, "it would leave the layer out of .weights files" },
	{ "numload", 0, 0, "partial weight loading is not implemented" },
	{ "dontloadscales", 0, 0, "it would change the .weights layout" },
	{ "learning_rate", 0, 1, "per-layer learning-rate scales are not implemented" },
	{ "smooth", 0, 0, "label smoothing is not implemented" },
	{ "train_only_bn", 0, 0, "training only batch-norm parameters is not implemented" },
	{ "dont_update", 0, 0, "freezing layers from the cfg is not implemented" },
	{ "burnin_update", 0, 0, "burn-in-only updates are not implemented" },
	{ NULL, 0, 0, NULL }
};

static const struct rule CONV_RULES[] = {
	{ "groups", 0, 1, "grouped convolution would change the result" },
	{ "dilation", 0, 1, "dilated convolution would change the result" },
	{ "xnor", 0, 0, "XNOR convolution would change the result" },
	{ "binary", 0, 0, "binary weights would change the result" },
	{ "flipped", 0, 0, "transposed weight loading would change the result" },
	{ "dot", 0, 0, "the dot-product penalty would change training" },
	{ "antialiasing", 0, 0, "anti-aliased striding would change the result" },
	{ "deform", 0, 0, "deformable convolution would change the result" },
	{ "sway", 0, 0, "rotation-invariant weights would change the result" },
	{ "rotate", 0, 0, "rotation-invariant weights would change the result" },
	{ "stretch", 0, 0, "rotation-invariant weights would change the result" },
	{ "stretch_sway", 0, 0, "rotation-invariant weights would change the result" },
	{ "assisted_excitation", 0, 0, "assisted excitation would change training" },
	{ "coordconv", 0, 0, "coordinate channels would change the result" },
	{ "share_index", 1, 0, "weight sharing between layers would change the result" },
	{ NULL, 0, 0, NULL }
};

static const struct rule MAXPOOL_RULES[] = {
	{ "maxpool_depth", 0, 0, "pooling across channels would change the result" },
	{ "antialiasing", 0, 0, "anti-aliased pooling would change the result" },
	{ NULL, 0, 0, NULL }
};

static const struct rule DROPOUT_RULES[] = {
	{ "dropblock", 0, 0, "DropBlock would change training" },
	{ NULL, 0, 0, NULL }
};

static const struct rule SOFTMAX_RULES[] = {
	{ "groups", 0, 1, "grouped softmax would change the result" },
	{ "temperature", 0, 1, "a softmax temperature would change the result" },
	{ "spatial", 0, 0, "spatial softmax would change the result" },
	{ "noloss", 0, 0, "a softmax without loss would change training" },
	{ "tree", 1, 0, "hierarchical (tree) softmax is not implemented" },
	{ NULL, 0, 0, NULL }
};

static const struct rule COST_RULES[] = {
	{ "ratio", 0, 0, "hard-example mining would change training" },
	{ NULL, 0, 0, NULL }
};

static const struct rule NO_RULES[] = { { NULL, 0, 0, NULL } };

/*
 * SectionReader.finish: keys not read, in file order (entries are in file order), against the
 * section's table then the common one. Ignored and unknown keys only warn in the engine.
 */
static int finish(struct parser *p, const struct rule *t1, const struct rule *t2)
{
	size_t i;

	for (i = 0; i < p->sec.n; i++) {
		const struct entry *e = &p->sec.e[i];
		const struct rule *r = NULL;
		const struct rule *t;
		double v = 0;

		if (e->used)
			continue;
		for (t = t1; !r && t && t->key; t++)
			if (!strcmp(t->key, e->key))
				r = t;
		for (t = t2; !r && t && t->key; t++)
			if (!strcmp(t->key, e->key))
				r = t;
		if (!r)
			continue;
		if (!r->reject) {
			if (parse_float_entry(p, e, NO_RANGE, &v))
				return -1;
			if (v == r->neutral)
				continue;
		}
		fail_entry(p, e, "is not supported (");
		ll_sb_str(&p->err, r->why);
		ll_sb_str(&p->err, ")");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Sections */

static int parse_list(struct parser *p, struct entry *e, int ints, int32_t *iv, double *dv,
		      size_t *count)
{
	const char *s = e->value;
	size_t n = 0;

	for (;;) {
		char item[64];
		size_t k = 0;
		struct entry sub = *e;

		while (s[k] && s[k] != ',')
			k++;
		if (k == 0)
			return fail_entry(p, e, "has an empty item in its comma-separated list");
		if (n == LL_MAX_STEPS || k >= sizeof(item))
			return fail_entry(p, e, "has more items than the C TA takes (16)");
		memcpy(item, s, k);
		item[k] = '\0';
		sub.value = item;
		if (ints ? parse_int_entry(p, &sub, NO_RANGE, &iv[n]) :
			   parse_float_entry(p, &sub, NO_RANGE, &dv[n]))
			return -1;
		n++;
		if (!s[k])
			break;
		s += k + 1;
	}
	*count = n;
	return 0;
}

static int parse_net(struct parser *p, struct ll_net_cfg *c)
{
	static const char *const policies[] = { "constant", "steps", "step", "poly", "exp", "sigmoid" };
	struct range r = NO_RANGE;
	struct entry *e;
	int32_t inputs = 0;
	size_t i;
	int uses_step, uses_scale, uses_gamma, uses_steps;

	if (get_int(p, "batch", 1, MIN1, &c->batch) ||
	    get_int(p, "subdivisions", 1, MIN1, &c->subdivisions))
		return -1;
	if (c->batch % c->subdivisions) {
		e = (struct entry *)find(p, "subdivisions");
		if (!e)
			e = (struct entry *)find(p, "batch");
		fail_entry_num(p, e, "does not divide batch=", c->batch);
		ll_sb_str(&p->err, " (the mini-batch would be ");
		ll_sb_i64(&p->err, c->batch);
		ll_sb_str(&p->err, "/");
		ll_sb_i64(&p->err, c->subdivisions);
		ll_sb_str(&p->err, ")");
		return -1;
	}
	if (required_int(p, "height", "input height in pixels", MIN1, &c->height) ||
	    required_int(p, "width", "input width in pixels", MIN1, &c->width) ||
	    required_int(p, "channels", "input channels, 1 for grey or 3 for RGB", MIN1, &c->channels))
		return -1;
	e = use(p, "inputs");
	if (e) {
		if (parse_int_entry(p, e, MIN1, &inputs))
			return -1;
		if ((int64_t)inputs != (int64_t)c->height * c->width * c->channels) {
			fail_entry_num(p, e, "is not supported (it differs from height*width*channels = ",
				       (int64_t)c->height * c->width * c->channels);
			ll_sb_str(&p->err, ")");
			return -1;
		}
	}
	r.has_min = 1;
	r.has_below = 1;
	r.below = 1;
	if (get_float(p, "learning_rate", 0.001, MIN0, &c->learning_rate) ||
	    get_float(p, "momentum", 0.9, r, &c->momentum) ||
	    get_float(p, "decay", 0.0001, MIN0, &c->decay) ||
	    get_int(p, "max_batches", 0, MIN0, &c->max_batches) ||
	    get_int(p, "burn_in", 0, MIN0, &c->burn_in) ||
	    get_float(p, "power", 4, NO_RANGE, &c->power))
		return -1;
	c->policy = LL_LR_CONSTANT;
	e = use(p, "policy");
	if (e) {
		for (i = 0; i < 6; i++)
			if (!strcmp(e->value, policies[i]))
				break;
		if (i < 6)
			c->policy = (enum ll_lr_policy)i;
		else if (!strcmp(e->value, "random"))
			return fail_entry(p, e, "is not supported (supported policies: constant, steps, step, poly, exp, sigmoid)");
		/* an unknown name is constant in Darknet (a warning in the engine) */
	}
	uses_step = c->policy == LL_LR_STEP || c->policy == LL_LR_SIG;
	uses_scale = c->policy == LL_LR_STEP;
	uses_gamma = c->policy == LL_LR_EXP || c->policy == LL_LR_SIG;
	uses_steps = c->policy == LL_LR_STEPS;
	c->step = 1;
	c->scale = 1;
	c->gamma = 1;
	c->nsteps = 0;
	if (uses_step && get_int(p, "step", 1, MIN1, &c->step))
		return -1;
	if (uses_scale && get_float(p, "scale", 1, NO_RANGE, &c->scale))
		return -1;
	if (uses_gamma && get_float(p, "gamma", 1, NO_RANGE, &c->gamma))
		return -1;
	if (uses_steps) {
		struct entry *st = use(p, "steps");
		struct entry *sc = use(p, "scales");
		size_t nst = 0, nsc = 0;

		if (st && parse_list(p, st, 1, c->steps, NULL, &nst))
			return -1;
		if (sc && parse_list(p, sc, 0, NULL, c->scales, &nsc))
			return -1;
		if (!st || !sc) {
			err_start(p, p->sec.line);
			ll_sb_str(&p->err, "[");
			ll_sb_str(&p->err, p->sec.name);
			ll_sb_str(&p->err, "] policy=steps needs both 'steps=' and 'scales='");
			return -1;
		}
		if (nst != nsc) {
			fail_entry_num(p, sc, "has ", (int64_t)nsc);
			ll_sb_str(&p->err, " values but steps has ");
			ll_sb_u64(&p->err, nst);
			return -1;
		}
		c->nsteps = nst;
	}
	/* keys of other policies only warn in the engine */
	use(p, "step");
	use(p, "scale");
	use(p, "gamma");
	use(p, "steps");
	use(p, "scales");
	return finish(p, NET_RULES, NULL);
}

static int parse_pool_geometry(struct parser *p, struct ll_layer_cfg *l)
{
	if (get_int(p, "stride", 1, MIN1, &l->stride) || square_stride(p, l->stride) ||
	    get_int(p, "size", l->stride, MIN1, &l->size) ||
	    get_int(p, "padding", l->size - 1, MIN0, &l->padding) ||
	    get_flag(p, "ceil_mode", &l->ceil_mode))
		return -1;
	if (l->ceil_mode && l->padding % 2) {
		fail_entry_num(p, find(p, "ceil_mode"),
			       "needs an even padding (padding/2 on each side, as PyTorch pads), found padding=",
			       l->padding);
		return -1;
	}
	return 0;
}

static int parse_layer(struct parser *p, enum ll_layer_type type, struct ll_layer_cfg *l)
{
	struct range r = NO_RANGE;
	int pad = 0;

	memset(l, 0, sizeof(*l));
	l->type = type;
	l->line = p->sec.line;
	switch (type) {
	case LL_LAYER_CONVOLUTIONAL:
		if (get_int(p, "filters", 1, MIN1, &l->filters) ||
		    get_int(p, "size", 1, MIN1, &l->size) ||
		    get_int(p, "stride", 1, MIN1, &l->stride) || square_stride(p, l->stride) ||
		    get_flag(p, "pad", &pad) || get_int(p, "padding", 0, MIN0, &l->padding))
			return -1;
		if (pad)
			l->padding = l->size / 2; /* pad=1 overrides padding= (a warning in the engine) */
		if (get_activation(p, &l->activation) || get_leaky_slope(p, l) ||
		    get_flag(p, "batch_normalize", &l->batch_normalize))
			return -1;
		return finish(p, CONV_RULES, COMMON_RULES);
	case LL_LAYER_CONNECTED:
		if (get_int(p, "output", 1, MIN1, &l->output) || get_activation(p, &l->activation) ||
		    get_leaky_slope(p, l) || get_flag(p, "batch_normalize", &l->batch_normalize))
			return -1;
		return finish(p, NO_RULES, COMMON_RULES);
	case LL_LAYER_MAXPOOL:
		if (parse_pool_geometry(p, l))
			return -1;
		use(p, "out_channels"); /* ignored (only with maxpool_depth=1) */
		return finish(p, MAXPOOL_RULES, COMMON_RULES);
	case LL_LAYER_LOCAL_AVGPOOL:
		if (parse_pool_geometry(p, l) || get_flag(p, "count_include_pad", &l->count_include_pad))
			return -1;
		return finish(p, NO_RULES, COMMON_RULES);
	case LL_LAYER_AVGPOOL:
		return finish(p, NO_RULES, COMMON_RULES);
	case LL_LAYER_DROPOUT:
		r.has_min = 1;
		r.has_below = 1;
		r.below = 1;
		if (get_float(p, "probability", 0.5, r, &l->probability))
			return -1;
		use(p, "dropblock_size_rel");
		use(p, "dropblock_size_abs");
		return finish(p, DROPOUT_RULES, COMMON_RULES);
	case LL_LAYER_SOFTMAX:
		return finish(p, SOFTMAX_RULES, COMMON_RULES);
	case LL_LAYER_COST: {
		struct entry *e = use(p, "type");

		l->cost_type = LL_COST_SSE;
		if (e) {
			if (!strcmp(e->value, "sse"))
				l->cost_type = LL_COST_SSE;
			else if (!strcmp(e->value, "L1"))
				l->cost_type = LL_COST_L1;
			else if (!strcmp(e->value, "smooth"))
				l->cost_type = LL_COST_SMOOTH;
			else if (!strcmp(e->value, "masked"))
				l->cost_type = LL_COST_MASKED;
			else if (!strcmp(e->value, "seg") || !strcmp(e->value, "wgan"))
				return fail_entry(p, e, "is not supported (supported cost types: sse, L1, smooth, masked)");
		}
		r.has_above = 1;
		if (get_float(p, "scale", 1, r, &l->scale))
			return -1;
		use(p, "noobj");
		use(p, "thresh");
		return finish(p, COST_RULES, COMMON_RULES);
	}
	default:
		break;
	}
	return -1;
}

/* SECTION_ALIASES of cfg.ts; -1 for [net]/[network], -2 unknown */
static int section_kind(const char *name)
{
	static const struct {
		const char *name;
		int kind;
	} aliases[] = {
		{ "net", -1 }, { "network", -1 },
		{ "convolutional", LL_LAYER_CONVOLUTIONAL }, { "conv", LL_LAYER_CONVOLUTIONAL },
		{ "connected", LL_LAYER_CONNECTED }, { "conn", LL_LAYER_CONNECTED },
		{ "maxpool", LL_LAYER_MAXPOOL }, { "max", LL_LAYER_MAXPOOL },
		{ "avgpool", LL_LAYER_AVGPOOL }, { "avg", LL_LAYER_AVGPOOL },
		{ "local_avgpool", LL_LAYER_LOCAL_AVGPOOL },
		{ "dropout", LL_LAYER_DROPOUT },
		{ "softmax", LL_LAYER_SOFTMAX }, { "soft", LL_LAYER_SOFTMAX },
		{ "cost", LL_LAYER_COST },
	};
	size_t i;

	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcmp(aliases[i].name, name))
			return aliases[i].kind;
	return -2;
}

/* The section just read is complete: parse it into c. */
static int end_section(struct parser *p, struct ll_net_cfg *c, int first)
{
	int kind = section_kind(p->sec.name);

	if (first) {
		if (kind != -1) {
			err_start(p, p->sec.line);
			ll_sb_str(&p->err, "the first section must be [net] or [network], found [");
			ll_sb_str(&p->err, p->sec.name);
			ll_sb_str(&p->err, "]");
			return -1;
		}
		return parse_net(p, c);
	}
	if (kind == -2) {
		err_start(p, p->sec.line);
		ll_sb_str(&p->err, "section [");
		ll_sb_str(&p->err, p->sec.name);
		ll_sb_str(&p->err, "] is not supported by layerlock (supported: [convolutional] [conv] [connected] [conn] [maxpool] [max] [avgpool] [avg] [local_avgpool] [dropout] [softmax] [soft] [cost])");
		return -1;
	}
	if (kind == -1) {
		err_start(p, p->sec.line);
		ll_sb_str(&p->err, "[");
		ll_sb_str(&p->err, p->sec.name);
		ll_sb_str(&p->err, "] may only be the first section");
		return -1;
	}
	if (kind == LL_LAYER_DROPOUT && c->nlayers == 0) {
		err_start(p, p->sec.line);
		ll_sb_str(&p->err, "[");
		ll_sb_str(&p->err, p->sec.name);
		ll_sb_str(&p->err, "] cannot be the first layer");
		return -1;
	}
	if (c->nlayers == LL_MAX_LAYERS) {
		err_start(p, p->sec.line);
		ll_sb_str(&p->err, "more layers than the C TA takes (64)");
		return -1;
	}
	return parse_layer(p, (enum ll_layer_type)kind, &c->layers[c->nlayers++]);
}

/* The parser is large (a section's keys): one static instance, as a TA serves one session. */
static struct parser the_parser;

int ll_cfg_parse(const char *text, size_t len, struct ll_net_cfg *cfg, char *err, size_t errsize)
{
	struct parser *p = &the_parser;
	enum line_kind kind = LINE_SKIP;
	size_t eq = 0;
	int have_section = 0, sections = 0;
	int32_t net_line = 0;
	char net_name[64];

	memset(p, 0, sizeof(*p));
	memset(cfg, 0, sizeof(*cfg));
	p->text = text;
	p->len = len;
	ll_sb_init(&p->err, err, errsize);
	/* Pass 1: lexing errors anywhere come first, as the engine lexes the whole file first. */
	lex_reset(p);
	while (next_line(p)) {
		if (classify(p, have_section, &kind, &eq))
			return -1;
		if (kind == LINE_SECTION) {
			have_section = 1;
			begin_section(p);
		}
	}
	/* Pass 2: section by section. */
	lex_reset(p);
	have_section = 0;
	while (next_line(p)) {
		if (classify(p, have_section, &kind, &eq))
			return -1;
		if (kind == LINE_SECTION) {
			if (have_section && end_section(p, cfg, sections++ == 0))
				return -1;
			begin_section(p);
			if (!have_section) {
				net_line = p->sec.line;
				memcpy(net_name, p->sec.name, sizeof(net_name));
			}
			have_section = 1;
		} else if (kind == LINE_ENTRY) {
			if (add_entry(p, eq))
				return -1;
		}
	}
	if (!have_section) {
		err_start(p, 0);
		ll_sb_str(&p->err, "has no sections (a cfg starts with [net])");
		return -1;
	}
	if (end_section(p, cfg, sections++ == 0))
		return -1;
	if (cfg->nlayers == 0) {
		err_start(p, net_line);
		ll_sb_str(&p->err, "[");
		ll_sb_str(&p->err, net_name);
		ll_sb_str(&p->err, "] is not followed by any layer section");
		return -1;
	}
	return 0;
}

/* The TA's JSON reader and writer: see include/layerlock_json.h. */
#include <string.h>
#include <layerlock_json.h>

static size_t ws(const char *s, size_t n, size_t i)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
		i++;
	return i;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Skips one string starting at s[i] == '"'; returns the index after it, or 0 when malformed. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"')
			return i + 1;
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			if (++i >= n)
				return 0;
			if (s[i] == 'u') {
				int k;

				for (k = 1; k <= 4; k++)
					if (i + k >= n || hexval(s[i + k]) < 0)
						return 0;
				i += 4;
			} else if (!strchr("\"\\/bfnrt", s[i]) || !s[i]) {
				return 0;
			}
		}
	}
	return 0;
}

static size_t skip_number(const char *s, size_t n, size_t i)
{
	size_t d;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else {
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < n && s[i] == '.') {
		for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	return i;
}

/* Skips one value at s[i] (no leading whitespace); the index after it, or 0 when malformed. */
static size_t skip_value(const char *s, size_t n, size_t i, int depth)
{
	char open, close;

	if (i >= n || depth > LL_JSON_MAX_DEPTH)
		return 0;
	switch (s[i]) {
	case '"':
		return skip_string(s, n, i);
	case 't':
		return n - i >= 4 && !memcmp(s + i, "true", 4) ? i + 4 : 0;
	case 'f':
		return n - i >= 5 && !memcmp(s + i, "false", 5) ? i + 5 : 0;
	case 'n':
		return n - i >= 4 && !memcmp(s + i, "null", 4) ? i + 4 : 0;
	case '{':
	case '[':
		open = s[i];
		close = open == '{' ? '}' : ']';
		i = ws(s, n, i + 1);
		if (i < n && s[i] == close)
			return i + 1;
		for (;;) {
			if (open == '{') {
				if (i >= n || s[i] != '"')
					return 0;
				i = skip_string(s, n, i);
				if (!i)
					return 0;
				i = ws(s, n, i);
				if (i >= n || s[i] != ':')
					return 0;
				i = ws(s, n, i + 1);
			}
			i = skip_value(s, n, i, depth + 1);
			if (!i)
				return 0;
			i = ws(s, n, i);
			if (i < n && s[i] == ',') {
				i = ws(s, n, i + 1);
				continue;
			}
			return i < n && s[i] == close ? i + 1 : 0;
		}
	default:
		return skip_number(s, n, i);
	}
}

int ll_json_parse(const char *text, size_t n, struct ll_jv *root)
{
	size_t i = ws(text, n, 0), e;

	if (i >= n)
		return -1;
	e = skip_value(text, n, i, 0);
	if (!e || ws(text, n, e) != n)
		return -1;
	root->p = text + i;
	root->n = e - i;
	return 0;
}

char ll_json_kind(struct ll_jv v)
{
	if (!v.p || !v.n)
		return 0;
	switch (v.p[0]) {
	case '{':
		return 'o';
	case '[':
		return 'a';
	case '"':
		return 's';
	case 't':
		return 't';
	case 'f':
		return 'f';
	case 'n':
		return 'z';
	default:
		return 'n';
	}
}

/* values inside a checked document: skip_value cannot fail on them */
int ll_json_next(struct ll_jv c, size_t *pos, struct ll_jv *key, struct ll_jv *val)
{
	size_t i = *pos ? *pos : 1, e;
	int obj = c.p[0] == '{';

	if (c.p[0] != '{' && c.p[0] != '[')
		return 0;
	i = ws(c.p, c.n, i);
	if (i < c.n && c.p[i] == ',')
		i = ws(c.p, c.n, i + 1);
	if (i >= c.n - 1)
		return 0;
	if (obj) {
		e = skip_string(c.p, c.n, i);
		if (key) {
			key->p = c.p + i;
			key->n = e - i;
		}
		i = ws(c.p, c.n, e);
		i = ws(c.p, c.n, i + 1); /* the ':' */
	}
	e = skip_value(c.p, c.n, i, 0);
	if (!e)
		return 0;
	if (val) {
		val->p = c.p + i;
		val->n = e - i;
	}
	*pos = e;
	return 1;
}

static void put_utf8(char *out, size_t cap, size_t *len, uint32_t cp)
{
	unsigned char b[4];
	size_t k, m;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		m = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | cp >> 6);
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		m = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | cp >> 12);
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		m = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | cp >> 18);
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		m = 4;
	}
	for (k = 0; k < m; k++, (*len)++)
		if (*len < cap)
			out[*len] = (char)b[k];
}

static uint32_t hex4(const char *p)
{
	return (uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

size_t ll_json_unescape(struct ll_jv v, char *out, size_t cap)
{
	size_t i, len = 0;

	if (ll_json_kind(v) != 's')
		return (size_t)-1;
	for (i = 1; i + 1 < v.n; i++) {
		char c = v.p[i];

		if (c != '\\') {
			if (len < cap)
				out[len] = c;
			len++;
			continue;
		}
		c = v.p[++i];
		if (c == 'u') {
			uint32_t u = hex4(v.p + i + 1);

			i += 4;
			if (u >= 0xd800 && u < 0xdc00 && i + 6 < v.n && v.p[i + 1] == '\\' && v.p[i + 2] == 'u') {
				uint32_t lo = hex4(v.p + i + 3);

				if (lo >= 0xdc00 && lo < 0xe000) {
					u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
					i += 6;
				}
			}
			if (u >= 0xd800 && u < 0xe000)
				u = 0xfffd; /* a lone surrogate: what Buffer.from(string, 'utf8') writes */
			put_utf8(out, cap, &len, u);
			continue;
		}
		switch (c) {
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'n':
			c = '\n';
			break;
		case 'r':
			c = '\r';
			break;
		case 't':
			c = '\t';
			break;
		default: /* " \ / stand for themselves */
			break;
		}
		if (len < cap)
			out[len] = c;
		len++;
	}
	return len;
}

int ll_json_str_eq(struct ll_jv v, const char *s)
{
	char buf[256];
	size_t n = strlen(s), len;

	if (ll_json_kind(v) != 's')
		return 0;
	/* the common case, a string without escapes, needs no copy */
	if (!memchr(v.p, '\\', v.n))
		return v.n == n + 2 && !memcmp(v.p + 1, s, n);
	if (n > sizeof(buf))
		return 0;
	len = ll_json_unescape(v, buf, sizeof(buf));
	return len == n && !memcmp(buf, s, n);
}

int ll_json_str_copy(struct ll_jv v, char *out, size_t cap)
{
	size_t len = ll_json_unescape(v, out, cap);

	if (len == (size_t)-1 || len >= cap)
		return -1;
	out[len] = '\0';
	return 0;
}

int ll_json_get(struct ll_jv o, const char *key, struct ll_jv *out)
{
	struct ll_jv k, v;
	size_t pos = 0;
	int found = 0;

	if (ll_json_kind(o) != 'o')
		return 0;
	while (ll_json_next(o, &pos, &k, &v))
		if (ll_json_str_eq(k, key)) {
			*out = v;
			found = 1;
		}
	return found;
}

int ll_json_uint(struct ll_jv v, uint64_t *out)
{
	uint64_t x = 0;
	size_t i = 0;

	if (ll_json_kind(v) != 'n' || v.p[0] == '-')
		return -1;
	for (; i < v.n && v.p[i] >= '0' && v.p[i] <= '9'; i++) {
		if (x > (9007199254740991ULL - 9) / 10 + 1)
			return -1;
		x = x * 10 + (uint64_t)(v.p[i] - '0');
	}
	if (x > 9007199254740991ULL)
		return -1;
	if (i < v.n && v.p[i] == '.')
		for (i++; i < v.n && v.p[i] == '0'; i++)
			;
	if (i != v.n)
		return -1;
	*out = x;
	return 0;
}

void ll_json_write_strn(struct ll_sb *s, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	ll_sb_str(s, "\"");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)str[i];
		char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
		const char *rep = NULL;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		ll_sb_strn(s, str + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
			rep = "\\\"";
			break;
		case '\\':
			rep = "\\\\";
			break;
		case '\b':
			rep = "\\b";
			break;
		case '\f':
			rep = "\\f";
			break;
		case '\n':
			rep = "\\n";
			break;
		case '\r':
			rep = "\\r";
			break;
		case '\t':
			rep = "\\t";
			break;
		default:
			break;
		}
		if (rep)
			ll_sb_str(s, rep);
		else
			ll_sb_strn(s, e, 6);
	}
	ll_sb_strn(s, str + run, n - run);
	ll_sb_str(s, "\"");
}

void ll_json_write_str(struct ll_sb *s, const char *str)
{
	ll_json_write_strn(s, str, strlen(str));
}

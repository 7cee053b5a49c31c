/* The layerlock TA's string builder: see include/layerlock_strbuf.h. */
#include <string.h>
#include <layerlock_arena.h>
#include <layerlock_strbuf.h>

void ll_sb_init(struct ll_sb *s, char *buf, size_t cap)
{
	s->buf = buf;
	s->cap = cap;
	s->len = 0;
	s->need = 0;
	s->overflow = 0;
	if (cap)
		buf[0] = '\0';
}

void ll_sb_strn(struct ll_sb *s, const char *str, size_t n)
{
	size_t room;

	s->need += n;
	if (!s->cap) {
		s->overflow = s->overflow || n > 0;
		return;
	}
	room = s->cap - 1 - s->len;
	if (n > room) {
		n = room;
		s->overflow = 1;
	}
	memcpy(s->buf + s->len, str, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

void ll_sb_str(struct ll_sb *s, const char *str)
{
	ll_sb_strn(s, str, strlen(str));
}

void ll_sb_u64(struct ll_sb *s, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	ll_sb_strn(s, tmp + i, sizeof(tmp) - i);
}

void ll_sb_i64(struct ll_sb *s, int64_t v)
{
	if (v < 0) {
		ll_sb_str(s, "-");
		ll_sb_u64(s, (uint64_t)0 - (uint64_t)v);
	} else {
		ll_sb_u64(s, (uint64_t)v);
	}
}

void ll_sb_bytes(struct ll_sb *s, uint64_t n)
{
	char tmp[64];

	ll_fmt_bytes(tmp, sizeof(tmp), n);
	ll_sb_str(s, tmp);
}

void ll_sb_json_str(struct ll_sb *s, const char *str)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)str;

	ll_sb_str(s, "\"");
	for (; *p; p++) {
		if (*p == '"' || *p == '\\') {
			char e[2] = { '\\', (char)*p };

			ll_sb_strn(s, e, 2);
		} else if (*p < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };

			ll_sb_strn(s, e, 6);
		} else {
			ll_sb_strn(s, (const char *)p, 1);
		}
	}
	ll_sb_str(s, "\"");
}

/*
 * A bounded string builder for the layerlock TA's messages and GET_STATS JSON (issue 17,
 * milestone 2). The TA's error messages must equal the software TA's word for word, and a TA
 * has only OP-TEE's small libutils: this needs nothing but memcpy, so what it prints does not
 * depend on which printf a TA dev kit brings. Output is cut at the capacity, always
 * NUL-terminated; `overflow` says it was cut.
 */
#ifndef LAYERLOCK_STRBUF_H
#define LAYERLOCK_STRBUF_H

#include <stddef.h>
#include <stdint.h>

struct ll_sb {
	char *buf;
	size_t cap; /* bytes of buf, the NUL included */
	size_t len;
	size_t need; /* bytes the whole text takes (len + what was cut) */
	int overflow;
};

void ll_sb_init(struct ll_sb *s, char *buf, size_t cap);
void ll_sb_str(struct ll_sb *s, const char *str);
/* the first n bytes of str (not NUL-terminated input: cfg keys and values) */
void ll_sb_strn(struct ll_sb *s, const char *str, size_t n);
void ll_sb_u64(struct ll_sb *s, uint64_t v);
void ll_sb_i64(struct ll_sb *s, int64_t v);
/* fmtBytes of src/tee/ta/arena.ts ("6,422,528 bytes (6.13 MiB)") */
void ll_sb_bytes(struct ll_sb *s, uint64_t n);
/* a JSON string literal (quotes and escapes) */
void ll_sb_json_str(struct ll_sb *s, const char *str);

#endif

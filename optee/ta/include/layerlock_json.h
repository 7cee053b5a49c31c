/*
 * A small strict JSON reader and writer for layerlock's OP-TEE TA (issue 17): what the deployment
 * commands read (a package's manifest, the TA's own stored state) and write (certificates,
 * manifests, status). No allocation: a document is checked once (RFC 8259 syntax, nesting at most
 * LL_JSON_MAX_DEPTH), then its values are spans of the original text that are looked up by key
 * (the last of a repeated key, as JSON.parse keeps it), iterated, compared or unescaped on demand.
 * The writer escapes strings as JSON.stringify does, so what the TA signs has the form the normal
 * world's canonicalJson gives (src/tee/shared/container.ts).
 */
#ifndef LAYERLOCK_JSON_H
#define LAYERLOCK_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <layerlock_strbuf.h>

#define LL_JSON_MAX_DEPTH 32

/* A value: its text (whitespace-trimmed) inside a checked document. */
struct ll_jv {
	const char *p;
	size_t n;
};

/* 0 when text[0..n) is exactly one JSON value (whitespace around it allowed); *root is it. */
int ll_json_parse(const char *text, size_t n, struct ll_jv *root);

/* 'o' object, 'a' array, 's' string, 'n' number, 't' true, 'f' false, 'z' null, 0 none */
char ll_json_kind(struct ll_jv v);

/* The value of `key` in object o (the last one if repeated): 1 found, 0 absent or not an object. */
int ll_json_get(struct ll_jv o, const char *key, struct ll_jv *out);

/*
 * Iterates an array's elements or an object's values (with their keys): start with *pos = 0;
 * 1 while there is one more.
 */
int ll_json_next(struct ll_jv container, size_t *pos, struct ll_jv *key, struct ll_jv *val);

/*
 * A string's characters, unescaped into UTF-8 (a lone surrogate becomes U+FFFD, as Node's
 * Buffer.from(string) writes it). Returns the length; writes at most cap bytes (no NUL).
 * (size_t)-1 when v is not a string.
 */
size_t ll_json_unescape(struct ll_jv v, char *out, size_t cap);

/* 1 when v is a string whose characters are exactly s (NUL-terminated UTF-8). */
int ll_json_str_eq(struct ll_jv v, const char *s);

/* Copies a string of at most cap - 1 bytes into out (NUL-terminated); -1 if not such a string. */
int ll_json_str_copy(struct ll_jv v, char *out, size_t cap);

/*
 * A number that is an integer from 0 to 2^53 - 1 (Number.isSafeInteger and ≥ 0): digits, with
 * an optional fraction of zeros. Exponents are refused (the TS writes none). 0 ok, -1 not.
 */
int ll_json_uint(struct ll_jv v, uint64_t *out);

/* A JSON string literal as JSON.stringify writes it (\" \\ \b \f \n \r \t, other controls \u00xx). */
void ll_json_write_strn(struct ll_sb *s, const char *str, size_t n);
void ll_json_write_str(struct ll_sb *s, const char *str);

#endif

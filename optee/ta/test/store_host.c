/*
 * TEST ONLY: llstore.h on a folder of plain files ($LAYERLOCK_TA_STORE), so deploy.c runs natively
 * in test/optee-ta-deploy.test.ts. The TA uses store_gp.c (OP-TEE's secure storage), which
 * encrypts and authenticates; here the files are clear, which lets the tests tamper with them.
 * put writes a temporary file and renames it over the object (atomic replacement).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <llstore.h>

static int path(const char *name, const char *suffix, char *out, size_t cap)
{
	const char *dir = getenv("LAYERLOCK_TA_STORE");
	int n;

	if (!dir || !*dir)
		return -1;
	n = snprintf(out, cap, "%s/%s%s", dir, name, suffix);
	return n > 0 && (size_t)n < cap ? 0 : -1;
}

TEE_Result ll_store_get(const char *name, void *buf, size_t cap, size_t *len)
{
	char p[4096];
	FILE *f;
	long size;
	size_t got;

	if (path(name, "", p, sizeof(p)))
		return TEE_ERROR_GENERIC;
	f = fopen(p, "rb");
	if (!f)
		return errno == ENOENT ? TEE_ERROR_ITEM_NOT_FOUND : TEE_ERROR_GENERIC;
	if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return TEE_ERROR_GENERIC;
	}
	*len = (size_t)size;
	if ((size_t)size > cap) {
		fclose(f);
		return TEE_ERROR_SHORT_BUFFER;
	}
	got = size ? fread(buf, 1, (size_t)size, f) : 0;
	fclose(f);
	return got == (size_t)size ? TEE_SUCCESS : TEE_ERROR_GENERIC;
}

TEE_Result ll_store_put(const char *name, const void *data, size_t len)
{
	char p[4096], tmp[4096];
	FILE *f;
	int ok;

	if (path(name, "", p, sizeof(p)) || path(name, ".tmp", tmp, sizeof(tmp)))
		return TEE_ERROR_GENERIC;
	f = fopen(tmp, "wb");
	if (!f)
		return TEE_ERROR_GENERIC;
	ok = (!len || fwrite(data, 1, len, f) == len) && fflush(f) == 0 && fsync(fileno(f)) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, p)) {
		unlink(tmp);
		return TEE_ERROR_GENERIC;
	}
	return TEE_SUCCESS;
}

TEE_Result ll_store_remove(const char *name)
{
	char p[4096];

	if (path(name, "", p, sizeof(p)))
		return TEE_ERROR_GENERIC;
	return unlink(p) == 0 || errno == ENOENT ? TEE_SUCCESS : TEE_ERROR_GENERIC;
}

int ll_store_exists(const char *name)
{
	char p[4096];
	struct stat st;

	return !path(name, "", p, sizeof(p)) && stat(p, &st) == 0;
}

TEE_Result ll_store_list(char (*names)[LL_STORE_NAME_MAX], size_t max, size_t *n)
{
	const char *dir = getenv("LAYERLOCK_TA_STORE");
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;

	*n = 0;
	if (!d)
		return TEE_ERROR_GENERIC;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || len >= LL_STORE_NAME_MAX || (len > 4 && !strcmp(e->d_name + len - 4, ".tmp")))
			continue;
		if (*n < max)
			memcpy(names[*n], e->d_name, len + 1);
		(*n)++;
	}
	closedir(d);
	return TEE_SUCCESS;
}

void ll_time_now(uint64_t *seconds, uint32_t *millis)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*seconds = (uint64_t)ts.tv_sec;
	*millis = (uint32_t)(ts.tv_nsec / 1000000);
}

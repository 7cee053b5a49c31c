/*
 * llstore.h on OP-TEE's secure storage (TEE_STORAGE_PRIVATE): the TA's backend; the host tests use
 * test/store_host.c. OP-TEE encrypts and authenticates each object under its TA storage key (from
 * the SSK and the hardware-unique key) and binds it to the TA's UUID, so sealing.ts's own file
 * format is not restated. Replacement is atomic: TEE_CreatePersistentObject with
 * TEE_DATA_FLAG_OVERWRITE writes the new object with its data and swaps it in one step.
 */
#include <string.h>
#include <tee_internal_api.h>
#include <llstore.h>

TEE_Result ll_store_get(const char *name, void *buf, size_t cap, size_t *len)
{
	TEE_ObjectHandle o = TEE_HANDLE_NULL;
	TEE_ObjectInfo info;
	size_t got = 0;
	TEE_Result r = TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, name, strlen(name),
						TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_SHARE_READ, &o);

	if (r != TEE_SUCCESS)
		return r;
	r = TEE_GetObjectInfo1(o, &info);
	if (r == TEE_SUCCESS) {
		*len = info.dataSize;
		if (info.dataSize > cap)
			r = TEE_ERROR_SHORT_BUFFER;
		else if (info.dataSize)
			r = TEE_ReadObjectData(o, buf, info.dataSize, &got);
		if (r == TEE_SUCCESS && got != info.dataSize)
			r = TEE_ERROR_CORRUPT_OBJECT;
	}
	TEE_CloseObject(o);
	return r;
}

TEE_Result ll_store_put(const char *name, const void *data, size_t len)
{
	TEE_ObjectHandle o = TEE_HANDLE_NULL;
	TEE_Result r = TEE_CreatePersistentObject(TEE_STORAGE_PRIVATE, name, strlen(name),
						  TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_ACCESS_WRITE |
						  TEE_DATA_FLAG_ACCESS_WRITE_META | TEE_DATA_FLAG_OVERWRITE,
						  TEE_HANDLE_NULL, data, len, &o);

	if (r == TEE_SUCCESS)
		TEE_CloseObject(o);
	return r;
}

TEE_Result ll_store_remove(const char *name)
{
	TEE_ObjectHandle o = TEE_HANDLE_NULL;
	TEE_Result r = TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, name, strlen(name),
						TEE_DATA_FLAG_ACCESS_WRITE_META, &o);

	if (r == TEE_ERROR_ITEM_NOT_FOUND)
		return TEE_SUCCESS;
	if (r != TEE_SUCCESS)
		return r;
	return TEE_CloseAndDeletePersistentObject1(o);
}

int ll_store_exists(const char *name)
{
	TEE_ObjectHandle o = TEE_HANDLE_NULL;

	if (TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, name, strlen(name), TEE_DATA_FLAG_ACCESS_READ |
				     TEE_DATA_FLAG_SHARE_READ, &o) != TEE_SUCCESS)
		return 0;
	TEE_CloseObject(o);
	return 1;
}

TEE_Result ll_store_list(char (*names)[LL_STORE_NAME_MAX], size_t max, size_t *n)
{
	TEE_ObjectEnumHandle e = TEE_HANDLE_NULL;
	TEE_ObjectInfo info;
	char id[TEE_OBJECT_ID_MAX_LEN];
	size_t idlen;
	TEE_Result r = TEE_AllocatePersistentObjectEnumerator(&e);

	*n = 0;
	if (r != TEE_SUCCESS)
		return r;
	r = TEE_StartPersistentObjectEnumerator(e, TEE_STORAGE_PRIVATE);
	if (r == TEE_ERROR_ITEM_NOT_FOUND) {
		/* no object yet */
		TEE_FreePersistentObjectEnumerator(e);
		return TEE_SUCCESS;
	}
	while (r == TEE_SUCCESS) {
		idlen = sizeof(id);
		r = TEE_GetNextPersistentObject(e, &info, id, &idlen);
		if (r != TEE_SUCCESS)
			break;
		if (idlen >= LL_STORE_NAME_MAX)
			continue; /* not one of this TA's names */
		if (*n < max) {
			memcpy(names[*n], id, idlen);
			names[*n][idlen] = '\0';
		}
		(*n)++;
	}
	TEE_FreePersistentObjectEnumerator(e);
	return r == TEE_ERROR_ITEM_NOT_FOUND ? TEE_SUCCESS : r;
}

void ll_time_now(uint64_t *seconds, uint32_t *millis)
{
	TEE_Time t;

	TEE_GetREETime(&t);
	*seconds = t.seconds;
	*millis = t.millis;
}

/*
 * The TA's persistent objects (issue 17), behind one small interface so deploy.c is the same in
 * the TA and in the host tests:
 *  - store_gp.c: OP-TEE's secure storage (TEE_STORAGE_PRIVATE), which encrypts and authenticates
 *    every object itself (its TSK, from the SSK and the hardware-unique key), so the TA does not
 *    restate src/tee/ta/sealing.ts's file format, only its objects and their semantics;
 *  - test/store_host.c: plain files in a folder (TEST ONLY; $LAYERLOCK_TA_STORE).
 * Names are short ASCII ([a-z0-9-], at most LL_STORE_NAME_MAX - 1 bytes). put replaces an object
 * atomically: a crash leaves the old or the new one, never a torn one.
 * The clock is here too: the one other thing the TA asks of its platform (TEE_GetREETime).
 */
#ifndef LLSTORE_H
#define LLSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <layerlock_tee.h>

#define LL_STORE_NAME_MAX 32

/*
 * Reads an object into buf (cap bytes): TEE_SUCCESS with *len its size; ITEM_NOT_FOUND; or
 * SHORT_BUFFER with *len the size it needs. Other codes: the storage failed (corrupt, tampered).
 */
TEE_Result ll_store_get(const char *name, void *buf, size_t cap, size_t *len);
TEE_Result ll_store_put(const char *name, const void *data, size_t len);
/* Removes an object; one that does not exist is not an error. */
TEE_Result ll_store_remove(const char *name);
int ll_store_exists(const char *name);
/* The names of up to max objects into names[]; *n how many there are in all. */
TEE_Result ll_store_list(char (*names)[LL_STORE_NAME_MAX], size_t max, size_t *n);

/* The time of day the normal world reports (seconds and milliseconds since 1970, UTC). */
void ll_time_now(uint64_t *seconds, uint32_t *millis);

#endif

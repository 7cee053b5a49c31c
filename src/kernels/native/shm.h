// Shared memory for the emulated TEE's transport (src/tee/shared/shm.ts): an anonymous memfd that
// the normal world creates and maps, hands to the TA process at start (as an inherited file
// descriptor) and the TA maps too — OP-TEE's reserved non-secure shared-memory pool, emulated.
#pragma once
#include <node_api.h>

namespace layerlock {
napi_value ShmCreate(napi_env env, napi_callback_info info);
napi_value ShmMap(napi_env env, napi_callback_info info);
napi_value ShmRelease(napi_env env, napi_callback_info info);
// Doorbells on words of the pool (doorbell.cc) and a non-reaping look at the TA process.
napi_value DoorbellRing(napi_env env, napi_callback_info info);
napi_value DoorbellWait(napi_env env, napi_callback_info info);
napi_value ProcessExit(napi_env env, napi_callback_info info);
}  // namespace layerlock

// Shared memory for the emulated TEE's transport (src/tee/shared/shm.ts): an anonymous memfd that
// the normal world creates and maps, hands to the TA process at start (as an inherited file
// descriptor) and the TA maps too — OP-TEE's reserved non-secure shared-memory pool, emulated.
#pragma once
#include <node_api.h>

namespace layerlock {
napi_value ShmCreate(napi_env env, napi_callback_info info);
napi_value ShmMap(napi_env env, napi_callback_info info);
napi_value ShmRelease(napi_env env, napi_callback_info info);
}  // namespace layerlock

/* TEST ONLY: OP-TEE has the trace macros here; the stand-in has them in tee_internal_api.h. */

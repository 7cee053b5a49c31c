/*
 * layerlock's smoke-test TA for OP-TEE on QEMU v8 (issue 17, milestone 1).
 * Shared by the TA and the normal-world check program: UUID and command ids.
 */
#ifndef LAYERLOCK_HELLO_TA_H
#define LAYERLOCK_HELLO_TA_H

/* a2cbd6f4-0817-4cb6-bdf1-57c0ab8b19ef */
#define LAYERLOCK_HELLO_TA_UUID \
	{ 0xa2cbd6f4, 0x0817, 0x4cb6, \
		{ 0xbd, 0xf1, 0x57, 0xc0, 0xab, 0x8b, 0x19, 0xef } }

/* params: VALUE_INOUT; a := a + 1 (OP-TEE hello_world's round trip) */
#define LAYERLOCK_HELLO_CMD_INC 0
/*
 * params: MEMREF_INPUT x (float32[n]), MEMREF_INPUT w (float32[n]),
 * VALUE_OUTPUT; a := bit pattern of sum_i x[i]*w[i] accumulated in index
 * order in float32, b := n. A connected layer's inner product, computed in
 * the secure world on buffers that crossed the world switch.
 */
#define LAYERLOCK_HELLO_CMD_DOT 1
/*
 * params: VALUE_OUTPUT; a := the largest single TEE_Malloc that succeeds
 * (to 4 KiB), b := the TA's configured heap (TA_DATA_SIZE). Measures the
 * secure memory a TA really gets, which the layerlock TA's arena will need.
 */
#define LAYERLOCK_HELLO_CMD_HEAP_PROBE 2

/*
 * The layerlock TA's C pieces (optee/ta/, milestone 2) running in the secure world:
 * params: VALUE_INPUT a = seed, b = layer index; MEMREF_OUTPUT float32[n];
 * VALUE_INPUT a, b = high, low 32 bits of the double scale sqrt(2 / inputs).
 * Fills the buffer with ll_connected_init (Darknet's connected-layer initialiser
 * on the engine's seeded stream).
 */
#define LAYERLOCK_HELLO_CMD_CONNECTED_INIT 3
/*
 * params: VALUE_INPUT a = arena capacity (bytes, taken from the TA heap with
 * TEE_Malloc), b = bytes of a first reservation (layer 0 'weights');
 * VALUE_INPUT a = bytes of a second reservation (layer 1 'output');
 * MEMREF_OUTPUT the second reservation's result: "ok OFFSET USED PEAK" or the
 * arena's OUT_OF_MEMORY message (NUL-terminated).
 */
#define LAYERLOCK_HELLO_CMD_ARENA 4

/*
 * The TA's heap (TA_DATA_SIZE), from the build (build.sh passes
 * LAYERLOCK_OPTEE_TA_HEAP as -DLAYERLOCK_TA_HEAP_SIZE=...). OP-TEE reserves it
 * in secure memory when the TA is loaded, so a heap larger than the TA RAM
 * pool makes TEEC_OpenSession fail with TEE_ERROR_OUT_OF_MEMORY.
 */
#ifndef LAYERLOCK_TA_HEAP_SIZE
#define LAYERLOCK_TA_HEAP_SIZE (1024 * 1024)
#endif

#endif

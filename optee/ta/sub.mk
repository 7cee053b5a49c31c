# layerlock's TA for OP-TEE's TA dev kit (issue 17, milestone 2); see Makefile.
global-incdirs-y += include
# the command layer and OP-TEE's entry points
srcs-y += entry.c commands.c partition.c cfg.c strbuf.c
# the deployment commands, their JSON, HKDF/HPKE, and OP-TEE's crypto and secure storage behind llcrypto.h / llstore.h
srcs-y += deploy.c json.c hkdf.c hpke.c crypto_gp.c store_gp.c
# the layers and their pieces (each checked against the TypeScript by test/optee-ta-*.test.ts)
srcs-y += arena.c rng.c output.c maxpool.c localavgpool.c sgd.c dropout.c avgpool.c connected.c conv.c batchnorm.c softmax.c llmath.c cost.c
# include/layerlock_tee.h: OP-TEE's own GP types, not the host shim
cflags-y += -DLAYERLOCK_OPTEE=1
# No fused multiply-add: the normal world must reproduce every float32 bit for bit.
cflags-y += -ffp-contract=off
# sqrt as the one instruction (a TA has no libm to set errno)
cflags-y += -fno-math-errno

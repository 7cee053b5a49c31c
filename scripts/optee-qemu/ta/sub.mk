global-incdirs-y += include
srcs-y += layerlock_hello_ta.c
# The layerlock TA's C pieces (optee/ta/): build.sh stages them next to this file.
srcs-y += rng.c arena.c output.c maxpool.c sgd.c dropout.c avgpool.c connected.c conv.c softmax.c llmath.c cost.c
# No fused multiply-add: the normal world must reproduce the float32 sum bit for bit.
cflags-y += -ffp-contract=off
# sqrt as the one instruction (a TA has no libm to set errno)
cflags-y += -fno-math-errno

global-incdirs-y += include
srcs-y += layerlock_hello_ta.c
# No fused multiply-add: the normal world must reproduce the float32 sum bit for bit.
cflags-y += -ffp-contract=off

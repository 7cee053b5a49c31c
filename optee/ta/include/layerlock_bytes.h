/* Little-endian integers in byte buffers: the .weights header (partition.c) and the container
 * and storage records (deploy.c) are all little-endian, whatever the CPU. */
#ifndef LAYERLOCK_BYTES_H
#define LAYERLOCK_BYTES_H

#include <stdint.h>

static inline void ll_put_le32(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)v;
	o[1] = (uint8_t)(v >> 8);
	o[2] = (uint8_t)(v >> 16);
	o[3] = (uint8_t)(v >> 24);
}

static inline uint32_t ll_get_le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

#endif

/* kernels.h: the merge engine's fused average (kernels.c): the block loop
 * daemon/merge.c runs for a sync round and bench/merge_bench times, so the
 * bench measures the daemon's own code. The plain f32 loops it is built
 * from are declared in daemon.h. */
#ifndef PSYNCD_KERNELS_H
#define PSYNCD_KERNELS_H

#include "daemon.h"

/* 4 KiB: every input streams for one block, the output block stays in L1
 * while its crc is taken (bench/merge_bench --block-floats; 8192 ran at
 * 0.5-0.6x of a fused loop here, 1024 at 1.0x). */
#define PSD_K_BLOCK_FLOATS 1024

/* d[i] = sum_j w[j] x[j][i] for i < n (nx >= 1 inputs, summed in order j),
 * block floats at a time; returns crc continued over the n*4 output bytes
 * as each block is written (psync_wire_crc_update semantics), and clears
 * *finite if an output is NaN or Inf (so was an input). With xcrc (nx
 * entries, else NULL), also continues xcrc[j] over input j's n*4 bytes,
 * each block while it is in L1: inputs read from members' shared inboxes
 * are checked where, and as, they are merged. */
uint32_t psd_k_average(float *restrict d, const psd_f32u *const *x, const float *w, uint32_t nx,
                       uint64_t n, uint64_t block, uint32_t crc, bool *finite, uint32_t *xcrc);

#endif

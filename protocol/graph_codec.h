/* graph_codec.h: the msgpack form of a graph (internal to libpsync). The
 * same packing code writes the blob's "graph" entry and feeds the graph
 * hash, so the canonical form in docs/blob-format.md is what blobs carry. */
#ifndef PSYNC_GRAPH_CODEC_H
#define PSYNC_GRAPH_CODEC_H

#include "graph.h"
#include "decode_limits.h"
#include "mpread.h"
#include "mpwrite.h"

/* Packs g canonically: map {inputs, nodes, output, loss}, node attributes
 * sorted by key, integers in their shortest form, floats as float64. */
void psync_graph_pack(const psync_graph *g, msgpack_packer *pk);

/* Reads a graph map at the cursor into g (initialised, empty), bounded by
 * lim; does not validate the structure (see psync_graph_validate). Errors
 * name the field ("graph.nodes[2].attrs.k: ..."). */
psync_err psync_graph_unpack(psync_mp *mp, const psync_limits *lim, psync_graph *g);

/* Packs a shape as an array of unsigned integers. */
void psync_codec_pack_shape(msgpack_packer *pk, uint32_t rank, const uint64_t *shape);

/* Reads a shape array (rank <= lim->max_rank, each dim <= lim->max_dim)
 * into shape[PSYNC_MAX_RANK]; errors are prefixed with path. */
psync_err psync_codec_read_shape(psync_mp *mp, const psync_limits *lim, const char *path,
                                 uint32_t *rank, uint64_t *shape);

#endif

/* data.h: in-memory datasets for the reference trainer: MNIST-style idx files
 * (gzipped or plain) and CSV files (label first), features scaled to [0,1];
 * sharding a dataset between the ranks of a job, and the deterministic epoch
 * permutation drawn from a model's rng. */
#ifndef PSYNC_DATA_H
#define PSYNC_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define PSYNC_DATA_MAX_SAMPLES (1u << 26) /* samples in one file */
#define PSYNC_DATA_MAX_DIM (1u << 20)     /* features per sample */
#define PSYNC_DATA_MAX_CLASSES 65536
#define PSYNC_CSV_LINE_MAX (1u << 20) /* bytes in one CSV line */

typedef struct psync_dataset {
    uint64_t n;       /* samples */
    uint32_t dim;     /* features per sample */
    uint32_t classes; /* max label + 1 (0 when unlabelled) */
    bool labeled;     /* y holds labels; otherwise every y is -1 */
    float *x;         /* n * dim, row-major, values in [0,1]; owned */
    int32_t *y;       /* n labels; owned */
} psync_dataset;

/* Loads an idx image file (magic 0x803, u8 pixels, n x rows x cols) and,
 * if labels is not NULL, its idx label file (magic 0x801, n u8 labels).
 * Files may be gzipped or plain. Magic, dims and counts are checked against
 * the limits above and against what the file can hold before allocating;
 * PSYNC_ENOTFOUND / PSYNC_EFORMAT / PSYNC_ETRUNC / PSYNC_ELIMIT / PSYNC_EIO
 * with a detail naming the file. *out owned by the caller. */
psync_err psync_data_load_idx(const char *images, const char *labels, psync_dataset **out);

/* Loads "<dir>/train-images-idx3-ubyte.gz" + labels (train) or the t10k
 * pair (!train). Same errors as psync_data_load_idx. */
psync_err psync_data_load_dir(const char *dir, bool train, psync_dataset **out);

/* Loads a CSV file: one sample per line, comma separated; an optional header
 * line (first field not a number) is skipped. With expect_dim == 0 every
 * line is "label,f1,...,fD" (D fixed by the first line). With expect_dim == D
 * lines of D fields are unlabelled and lines of D+1 fields start with the
 * label (one kind per file). Features all within [0,1] are kept as they are;
 * otherwise they must be within [0,255] and are divided by 255. Errors name
 * file:line (PSYNC_EFORMAT, PSYNC_ELIMIT, PSYNC_ENOTFOUND, PSYNC_ENOMEM). */
psync_err psync_data_load_csv(const char *path, uint32_t expect_dim, psync_dataset **out);

/* Keeps only this rank's samples, in place: the strided subset i with
 * i % size == rank (every rank sees every class; counts differ by at most
 * one). PSYNC_EINVAL if rank >= size or the shard would be empty. */
psync_err psync_data_shard(psync_dataset *d, uint32_t rank, uint32_t size);

/* Frees the dataset; accepts NULL and *d == NULL; sets *d to NULL. */
void psync_data_destroy(psync_dataset **d);

/* Fills perm[0..n) with a permutation of 0..n-1 (Fisher-Yates) drawn from a
 * generator seeded with seed: the same seed gives the same order anywhere. */
void psync_data_permutation(uint64_t seed, uint32_t *perm, uint64_t n);

#endif

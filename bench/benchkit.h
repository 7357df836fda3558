/* benchkit.h: what every psync benchmark program shares: a monotonic clock,
 * medians, flags, pre-faulted buffers, the environment line (OpenBLAS core,
 * thread counts, OPENBLAS_CORETYPE) and running a peer program whose
 * "peer key=value ..." lines are echoed and parsed. */
#ifndef PSYNC_BENCHKIT_H
#define PSYNC_BENCHKIT_H

#include <stddef.h>

#define BENCH_KV_MAX 32

/* Parsed "key=value" numbers from a peer's output. */
typedef struct bench_kv {
    int n;
    char key[BENCH_KV_MAX][48];
    double val[BENCH_KV_MAX];
} bench_kv;

/* Monotonic time in seconds. */
double bench_now(void);
/* Median of v[0..n) (sorts v in place); 0 for n == 0. */
double bench_median(double *v, int n);

/* Value of flag `name` ("--reps") in argv, or dflt when absent. */
double bench_flag_num(int argc, char **argv, const char *name, double dflt);
const char *bench_flag_str(int argc, char **argv, const char *name, const char *dflt);
int bench_flag_set(int argc, char **argv, const char *name);

/* Allocates len bytes, 2 MiB aligned (huge pages advised) and touches every
 * page so later use runs at memory speed. Returns NULL on failure; free()
 * the result. If first_touch_gbps is not NULL it gets the fault-in rate. */
void *bench_alloc_hot(size_t len, double *first_touch_gbps);

/* Prints "env bench=<name> openblas_core=... blas_threads=...
 * OPENBLAS_CORETYPE=... cpus=..." on stdout. */
void bench_log_env(const char *name);

/* Runs cmd through the shell, echoes its stdout lines, parses every
 * "key=value" pair on lines starting with "peer" into kv. Returns the
 * command's exit status (0 on success), -1 if it could not be started. */
int bench_peer_run(const char *cmd, bench_kv *kv);
/* Value of key in kv, or -1 if absent. */
double bench_kv_get(const bench_kv *kv, const char *key);

/* Prints "ratio <name>=<value> goal<op><goal> <met|MISSED>" on stdout; op is
 * "<=" or ">=". value < 0 prints "n/a". */
void bench_ratio(const char *name, double value, const char *op, double goal);

/* Directory of this source tree's bench/ (for the Python peers): the
 * --bench-dir flag, else PSYNC_BENCH_DIR, else the compiled-in default. */
const char *bench_dir(int argc, char **argv);
/* The Python interpreter for peers: --python, else /usr/bin/python3. */
const char *bench_python(int argc, char **argv);

/* The first of count consecutive loopback TCP ports that are free right now
 * (probed from a start derived from the pid, so concurrent runs differ). */
int bench_tcp_ports(int count);

#endif

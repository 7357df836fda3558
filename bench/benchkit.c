/* benchkit.c: shared helpers of the benchmark programs (see benchkit.h):
 * clock, medians, flags, pre-faulted buffers, environment line and the peer
 * runner. Benchmarks are programs: printing to stdout is their output. */
#include "benchkit.h"

#include <arpa/inet.h>
#include <cblas.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PSYNC_BENCH_SOURCE_DIR
#define PSYNC_BENCH_SOURCE_DIR "bench"
#endif

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
    if (n <= 0) return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

const char *bench_flag_str(int argc, char **argv, const char *name, const char *dflt)
{
    size_t len = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], name) == 0 && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], name, len) == 0 && argv[i][len] == '=') return argv[i] + len + 1;
    }
    return dflt;
}

double bench_flag_num(int argc, char **argv, const char *name, double dflt)
{
    const char *s = bench_flag_str(argc, argv, name, NULL);
    return s ? strtod(s, NULL) : dflt;
}

int bench_flag_set(int argc, char **argv, const char *name)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return 1;
    return 0;
}

void *bench_alloc_hot(size_t len, double *first_touch_gbps)
{
    size_t align = (size_t)2 << 20;
    size_t cap = (len + align - 1) / align * align;
    void *p = NULL;
    if (cap == 0 || posix_memalign(&p, align, cap) != 0) return NULL;
    madvise(p, cap, MADV_HUGEPAGE);
    double t0 = bench_now();
    memset(p, 0, cap);
    double dt = bench_now() - t0;
    if (first_touch_gbps) *first_touch_gbps = dt > 0 ? (double)cap / dt / 1e9 : 0.0;
    return p;
}

void bench_log_env(const char *name)
{
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("env bench=%s openblas_core=%s blas_threads=%d OPENBLAS_CORETYPE=%s cpus=%ld\n", name,
           openblas_get_corename(), openblas_get_num_threads(), ct && *ct ? ct : "unset",
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
}

/* Parses every key=value token of one "peer ..." line into kv. */
static void peer_parse_line(char *line, bench_kv *kv)
{
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || kv->n >= BENCH_KV_MAX || (size_t)(eq - tok) >= sizeof kv->key[0]) continue;
        char *end = NULL;
        double v = strtod(eq + 1, &end);
        if (end == eq + 1) continue;
        memcpy(kv->key[kv->n], tok, (size_t)(eq - tok));
        kv->key[kv->n][eq - tok] = '\0';
        kv->val[kv->n++] = v;
    }
}

int bench_peer_run(const char *cmd, bench_kv *kv)
{
    char line[1024];
    fflush(stdout);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) {
        fputs(line, stdout);
        if (strncmp(line, "peer", 4) == 0) peer_parse_line(line, kv);
    }
    fflush(stdout);
    int st = pclose(f);
    return st == -1 ? -1 : (WIFEXITED(st) ? WEXITSTATUS(st) : 128);
}

double bench_kv_get(const bench_kv *kv, const char *key)
{
    for (int i = 0; i < kv->n; i++)
        if (strcmp(kv->key[i], key) == 0) return kv->val[i];
    return -1.0;
}

void bench_ratio(const char *name, double value, const char *op, double goal)
{
    if (value < 0) {
        printf("ratio %s=n/a goal%s%g (peer figure missing)\n", name, op, goal);
        return;
    }
    int met = op[0] == '<' ? value <= goal : value >= goal;
    printf("ratio %s=%.3f goal%s%g %s\n", name, value, op, goal, met ? "met" : "MISSED");
}

const char *bench_dir(int argc, char **argv)
{
    const char *env = getenv("PSYNC_BENCH_DIR");
    return bench_flag_str(argc, argv, "--bench-dir", env && *env ? env : PSYNC_BENCH_SOURCE_DIR);
}

const char *bench_python(int argc, char **argv)
{
    return bench_flag_str(argc, argv, "--python", "/usr/bin/python3");
}

/* 1 if nothing listens on or is bound to 127.0.0.1:port right now. */
static int port_free(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, ok;
    if (fd < 0) return 0;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as ZeroMQ binds */
    ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int bench_tcp_ports(int count)
{
    int span = 30000 / count, start = (int)(getpid() % span);
    for (int i = 0; i < span; i++) {
        int base = 30000 + ((start + i) % span) * count, k = 0;
        while (k < count && port_free(base + k))
            k++;
        if (k == count) return base;
    }
    return 30000 + start * count;
}

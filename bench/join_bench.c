/* join_bench.c: hot join of a ~100 MB model from psyncd (a new client's
 * psync_client_join in a new process: hello, welcome, bootstrap of the
 * whole blob, through shared memory as for any joiner on psyncd's host;
 * the same as frames only, as a joiner on another host gets it; then each
 * right after a new merged version, as in a cluster that trains; also
 * repeated in this process) against a
 * raw ZeroMQ transfer of the same bytes in 4 MiB chunks (zero-copy send,
 * receiver copies into a buffer), over the same transport, in one run. The
 * daemon is started here (--psyncd PATH) and given the model by an uploader
 * client. Medians of --reps joins. With --curve, also the same join over
 * TCP with CURVE on both sockets (psyncd with a key and an allow-list)
 * against plain TCP, alternating, in one run. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "benchkit.h"
#include "flatmodel.h"
#include "blob.h"
#include "log.h"
#include "psync_client.h"
#include "keys.h"

#ifndef PSYNC_BENCH_PSYNCD
#define PSYNC_BENCH_PSYNCD "psyncd"
#endif
#define JOIN_CHUNK ((size_t)4 << 20)

/* Starts psyncd on the two endpoints (with CURVE when key is not NULL:
 * its key pair file and the allow-list); returns its pid or -1. */
static pid_t join_start_daemon(const char *psyncd, const char *control, const char *bulk,
                               const char *key, const char *allow)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (key)
            execl(psyncd, psyncd, "--bind-control", control, "--bind-bulk", bulk, "--log-level",
                  "warn", "--key-file", key, "--allow-list", allow, (char *)NULL);
        else
            execl(psyncd, psyncd, "--bind-control", control, "--bind-bulk", bulk, "--log-level",
                  "warn", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void join_stop_daemon(pid_t pid)
{
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* One hot join: new client, join (bootstrap), destroy. */
static psync_err join_once(const psync_client_opts *o, uint64_t expect, double *ms)
{
    psync_client *c = NULL;
    psync_model *m = NULL;
    double t0 = bench_now();
    psync_err err = psync_client_new(&c, o);
    if (!err) err = psync_client_join(c, &m, 60000);
    *ms = (bench_now() - t0) * 1e3;
    if (!err && m->payload_len != expect)
        err = psync_fail(PSYNC_EMISMATCH, "joined payload %llu bytes, expected %llu",
                         (unsigned long long)m->payload_len, (unsigned long long)expect);
    psync_model_destroy(&m);
    psync_client_destroy(&c);
    return err;
}

/* One raw transfer: len bytes of src as zero-copy 4 MiB frames on push,
 * received on pull and copied into dst. */
static int raw_once(void *push, void *pull, const uint8_t *src, uint8_t *dst, size_t len,
                    double *ms)
{
    double t0 = bench_now();
    for (size_t off = 0; off < len; off += JOIN_CHUNK) {
        zmq_msg_t msg;
        size_t n = len - off < JOIN_CHUNK ? len - off : JOIN_CHUNK;
        zmq_msg_init_data(&msg, (void *)(src + off), n, NULL, NULL);
        if (zmq_msg_send(&msg, push, 0) < 0) return -1;
    }
    for (size_t off = 0; off < len;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        int n = zmq_msg_recv(&msg, pull, 0);
        if (n < 0 || off + (size_t)n > len) return -1;
        memcpy(dst + off, zmq_msg_data(&msg), (size_t)n);
        off += (size_t)n;
        zmq_msg_close(&msg);
    }
    *ms = (bench_now() - t0) * 1e3;
    return 0;
}

/* Median of reps raw transfers (after one warm-up) over endpoint ep; with
 * fresh, into new memory each time (as a new joiner's blob is). */
static double raw_measure(const char *ep, size_t len, int reps, int fresh)
{
    void *ctx = zmq_ctx_new(), *push = zmq_socket(ctx, ZMQ_PUSH), *pull = zmq_socket(ctx, ZMQ_PULL);
    uint8_t *src = bench_alloc_hot(len, NULL), *dst = bench_alloc_hot(len, NULL);
    double t[reps + 1], med = -1;
    int linger = 0, ok = src && dst && zmq_bind(pull, ep) == 0 && zmq_connect(push, ep) == 0;
    for (int r = 0; ok && r <= reps; r++) {
        /* fresh: new pages from the kernel each time (malloc could hand back
         * heap memory an earlier join freed, already faulted in) */
        uint8_t *d =
            fresh ? mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                  : dst;
        ok = d != MAP_FAILED && d && raw_once(push, pull, src, d, len, &t[r]) == 0;
        if (fresh && d != MAP_FAILED) munmap(d, len);
    }
    if (ok) med = bench_median(t + 1, reps);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(ctx);
    free(src);
    free(dst);
    return med;
}

/* One hot join in a new process: this program again (exec, so the joiner
 * shares no memory with this one, as a worker started on a host does not),
 * run as `join_bench --join-child CONTROL BULK KEY SERVER_KEY BYTES FD
 * PATH` ("-": no key; PATH shm, or frames for o->no_shm); its time, or -1. */
static double join_child(const psync_client_opts *o, uint64_t expect)
{
    int fd[2];
    double ms = -1;
    char bytes[32], wfd[16];
    if (pipe(fd)) return -1;
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)expect);
    snprintf(wfd, sizeof wfd, "%d", fd[1]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        execl("/proc/self/exe", "join_bench", "--join-child", o->control, o->bulk,
              o->key_file ? o->key_file : "-", o->server_key ? o->server_key : "-", bytes, wfd,
              o->no_shm ? "frames" : "shm", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    if (pid < 0 || read(fd[0], &ms, sizeof ms) != (ssize_t)sizeof ms) ms = -1;
    close(fd[0]);
    int status = 1;
    if (pid > 0) waitpid(pid, &status, 0);
    return status == 0 ? ms : -1;
}

/* The --join-child side of join_child: one join, its time written to FD. */
static int join_child_main(char **argv)
{
    psync_client_opts o = {.control = argv[2],
                           .bulk = argv[3],
                           .rank = -1,
                           .key_file = strcmp(argv[4], "-") ? argv[4] : NULL,
                           .server_key = strcmp(argv[5], "-") ? argv[5] : NULL,
                           .no_shm = !strcmp(argv[8], "frames")};
    double ms = -1;
    psync_log_set_level(PSYNC_LOG_WARN);
    psync_err err = join_once(&o, strtoull(argv[6], NULL, 10), &ms);
    if (err) fprintf(stderr, "join_bench: child: %s: %s\n", psync_strerror(err), psync_errdetail());
    ssize_t w = write(atoi(argv[7]), &ms, sizeof ms);
    return err || w != (ssize_t)sizeof ms ? 1 : 0;
}

/* Publishes from up and waits until it applied the merged version: the
 * cluster has moved on, so psyncd has no bootstrap prepared for the next
 * joiner (as in a training cluster, where versions change every round). */
static psync_err join_advance(psync_client *up, psync_model *m)
{
    bool applied = false;
    psync_err err = psync_client_publish(up, m, 1);
    for (int i = 0; !err && !applied && i < 300; i++)
        err = psync_client_poll(up, m, 100, &applied);
    if (!err && !applied) err = psync_fail(PSYNC_ETIMEOUT, "no merged version after a publish");
    return err;
}

/* Medians of hot joins (after one untimed) in a new process each. */
typedef struct join_times {
    double fresh;  /* of an unchanged version */
    double frames; /* the same with shared memory declined (as from another host) */
    double moved;  /* each of a version merged just before */
    double same;   /* repeated in this process (the heap of the previous join reused) */
} join_times;

/* reps + 1 joins in new processes with o; their median after the first. */
static psync_err join_children(const psync_client_opts *o, uint64_t bytes, int reps, double *med)
{
    double t[reps + 1];
    for (int r = 0; r <= reps; r++)
        if ((t[r] = join_child(o, bytes)) < 0)
            return psync_fail(PSYNC_EIO, "a joining process failed");
    *med = bench_median(t + 1, reps);
    return PSYNC_OK;
}

/* Uploads the model through one client, then times the joins of
 * join_times (frames only if o takes shared memory). */
static psync_err join_measure(const psync_client_opts *o, psync_model *m, int reps, join_times *jt)
{
    psync_client *up = NULL;
    psync_client_opts frames = *o;
    double t[reps + 1];
    frames.no_shm = true;
    psync_err err = psync_client_new(&up, o);
    if (!err) err = psync_client_join(up, &m, 60000);
    if (!err) err = join_children(o, m->payload_len, reps, &jt->fresh);
    if (!err && !o->no_shm) err = join_children(&frames, m->payload_len, reps, &jt->frames);
    for (int r = 0; !err && r <= reps; r++)
        if (!(err = join_advance(up, m)) && (t[r] = join_child(o, m->payload_len)) < 0)
            err = psync_fail(PSYNC_EIO, "a joining process failed");
    jt->moved = err ? -1 : bench_median(t + 1, reps);
    for (int r = 0; !err && r <= reps; r++)
        err = join_once(o, m->payload_len, &t[r]);
    psync_client_destroy(&up);
    jt->same = err ? -1 : bench_median(t + 1, reps);
    return err;
}

/* Prints join_TR[WHAT]/raw_zmq and .../raw_zmq_fresh_buffer for ms. */
static void join_ratios(const char *tr, const char *what, double ms, double raw_ms, double fresh_ms)
{
    char name[96];
    snprintf(name, sizeof name, "join_%s%s/raw_zmq", tr, what);
    bench_ratio(name, ms > 0 && raw_ms > 0 ? ms / raw_ms : -1, "<=", 1.5);
    snprintf(name, sizeof name, "join_%s%s/raw_zmq_fresh_buffer", tr, what);
    bench_ratio(name, ms > 0 && fresh_ms > 0 ? ms / fresh_ms : -1, "<=", 1.5);
}

/* Runs both sides on one transport ("ipc" or "tcp") and prints them. */
static int join_transport(const char *tr, const char *psyncd, psync_model *m, int reps)
{
    char control[256], bulk[256], raw[256], dir[] = "/tmp/psync-join-XXXXXX";
    int port = bench_tcp_ports(3);
    size_t len = 0;
    join_times jt = {-1, -1, -1, -1};
    if (strcmp(tr, "ipc") == 0 && !mkdtemp(dir)) return 1;
    if (strcmp(tr, "ipc") == 0) {
        snprintf(control, sizeof control, "ipc://%s/c.sock", dir);
        snprintf(bulk, sizeof bulk, "ipc://%s/b.sock", dir);
        snprintf(raw, sizeof raw, "ipc://%s/raw.sock", dir);
    } else {
        snprintf(control, sizeof control, "tcp://127.0.0.1:%d", port);
        snprintf(bulk, sizeof bulk, "tcp://127.0.0.1:%d", port + 1);
        snprintf(raw, sizeof raw, "tcp://127.0.0.1:%d", port + 2);
    }
    psync_client_opts o = {.control = control, .bulk = bulk, .rank = -1};
    pid_t pid = join_start_daemon(psyncd, control, bulk, NULL, NULL);
    psync_err err =
        pid < 0 ? psync_fail(PSYNC_EIO, "cannot start %s", psyncd) : join_measure(&o, m, reps, &jt);
    join_stop_daemon(pid);
    if (err)
        fprintf(stderr, "join_bench: %s: %s: %s\n", tr, psync_strerror(err), psync_errdetail());
    psync_blob_size(m, &len);
    double raw_ms = raw_measure(raw, len, reps, 0), fresh_ms = raw_measure(raw, len, reps, 1);
    if (strcmp(tr, "ipc") == 0) { /* the ipc socket files, then the directory */
        unlink(control + 6);
        unlink(bulk + 6);
        unlink(raw + 6);
        rmdir(dir);
    }
    printf("psync transport=%s join_ms=%.2f join_gbps=%.2f join_frames_ms=%.2f "
           "join_new_version_ms=%.2f join_same_process_ms=%.2f\n",
           tr, jt.fresh, jt.fresh > 0 ? (double)len / jt.fresh / 1e6 : 0.0, jt.frames, jt.moved,
           jt.same);
    printf("peer transport=%s raw_zmq_ms=%.2f raw_zmq_gbps=%.2f raw_zmq_fresh_buffer_ms=%.2f "
           "chunk_bytes=%zu\n",
           tr, raw_ms, raw_ms > 0 ? (double)len / raw_ms / 1e6 : 0.0, fresh_ms, JOIN_CHUNK);
    join_ratios(tr, "", jt.fresh, raw_ms, fresh_ms);
    join_ratios(tr, "_frames", jt.frames, raw_ms, fresh_ms);
    join_ratios(tr, "_new_version", jt.moved, raw_ms, fresh_ms);
    return err ? 1 : 0;
}

/* Key pairs server and worker in dir, the worker's .pub in dir/allow. */
static psync_err join_keys(const char *dir)
{
    psync_keypair s, w;
    char p[300];
    psync_err e = psync_keypair_generate(&s);
    if (!e) e = psync_keypair_generate(&w);
    snprintf(p, sizeof p, "%s/server.key", dir);
    if (!e) e = psync_keypair_save(&s, p, 1);
    snprintf(p, sizeof p, "%s/server.pub", dir);
    if (!e) e = psync_pubkey_save(s.public_key, p, 1);
    snprintf(p, sizeof p, "%s/worker.key", dir);
    if (!e) e = psync_keypair_save(&w, p, 1);
    snprintf(p, sizeof p, "%s/allow", dir);
    if (!e && mkdir(p, 0700)) e = psync_fail(PSYNC_EIO, "mkdir %s", p);
    snprintf(p, sizeof p, "%s/allow/worker.pub", dir);
    if (!e) e = psync_pubkey_save(w.public_key, p, 1);
    return e;
}

/* Median hot join over TCP, plain or CURVE (keys in dir). */
static double join_tcp(const char *psyncd, psync_model *m, int reps, const char *dir, int curve)
{
    char control[64], bulk[64], key[300], allow[300], wkey[300], spub[300];
    int port = bench_tcp_ports(2);
    snprintf(control, sizeof control, "tcp://127.0.0.1:%d", port);
    snprintf(bulk, sizeof bulk, "tcp://127.0.0.1:%d", port + 1);
    snprintf(key, sizeof key, "%s/server.key", dir);
    snprintf(allow, sizeof allow, "%s/allow", dir);
    snprintf(wkey, sizeof wkey, "%s/worker.key", dir);
    snprintf(spub, sizeof spub, "%s/server.pub", dir);
    psync_client_opts o = {.control = control,
                           .bulk = bulk,
                           .rank = -1,
                           .key_file = curve ? wkey : NULL,
                           .server_key = curve ? spub : NULL,
                           .no_shm = true}; /* as from another host: every byte on the socket */
    join_times jt = {-1, -1, -1, -1};
    pid_t pid = join_start_daemon(psyncd, control, bulk, curve ? key : NULL, allow);
    psync_err err =
        pid < 0 ? psync_fail(PSYNC_EIO, "cannot start %s", psyncd) : join_measure(&o, m, reps, &jt);
    join_stop_daemon(pid);
    if (err)
        fprintf(stderr, "join_bench: curve=%d: %s: %s\n", curve, psync_strerror(err),
                psync_errdetail());
    return err ? -1 : jt.fresh;
}

/* CURVE vs plain hot join over TCP, three alternating rounds of each. */
static int join_curve(const char *psyncd, psync_model *m, int reps)
{
    char dir[] = "/tmp/psync-joincurve-XXXXXX", cmd[300];
    double plain[3], curve[3];
    size_t len = 0;
    if (!mkdtemp(dir) || join_keys(dir)) {
        fprintf(stderr, "join_bench: keys: %s\n", psync_errdetail());
        return 1;
    }
    for (int i = 0; i < 3; i++) {
        plain[i] = join_tcp(psyncd, m, reps, dir, 0);
        curve[i] = join_tcp(psyncd, m, reps, dir, 1);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "join_bench: cannot remove %s\n", dir);
    double p = bench_median(plain, 3), c = bench_median(curve, 3);
    psync_blob_size(m, &len);
    printf("psync transport=tcp security=plain join_ms=%.2f join_gbps=%.2f\n", p,
           p > 0 ? (double)len / p / 1e6 : 0.0);
    printf("psync transport=tcp security=curve join_ms=%.2f join_gbps=%.2f\n", c,
           c > 0 ? (double)len / c / 1e6 : 0.0);
    bench_ratio("join_tcp/curve_vs_plain", p > 0 && c > 0 ? c / p : -1, "<=", 4.0);
    return p > 0 && c > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 9 && !strcmp(argv[1], "--join-child")) return join_child_main(argv);
    if (bench_flag_set(argc, argv, "--help")) {
        printf("usage: join_bench [--size-mb MB(100)] [--reps N(5)] [--transport ipc|tcp|both]\n"
               "                  [--psyncd PATH] [--curve]\n"
               "--curve: TCP hot join with CURVE vs plain TCP (instead of the raw comparison)\n"
               "Each timed join runs in a new process: this program again, as\n"
               "join_bench --join-child CONTROL BULK KEY SERVER_KEY BYTES FD shm|frames\n"
               "(internal). Joins through shared memory (psyncd's host) and, as\n"
               "join_frames_ms, with it declined (PSYNC_SHM=0: as from another host).\n");
        return 0;
    }
    uint64_t n = (uint64_t)(bench_flag_num(argc, argv, "--size-mb", 100) * 1e6 / 4);
    int reps = (int)bench_flag_num(argc, argv, "--reps", 5);
    const char *tr = bench_flag_str(argc, argv, "--transport", "both");
    const char *psyncd = bench_flag_str(argc, argv, "--psyncd", PSYNC_BENCH_PSYNCD);
    psync_model *m = NULL;
    int rc = 0;
    reps = reps < 1 ? 1 : reps > 100 ? 100 : reps;
    psync_log_set_level(PSYNC_LOG_WARN);
    bench_log_env("join");
    if (bench_flat_model(n ? n : 1, 1.0f, &m)) {
        fprintf(stderr, "join_bench: %s\n", psync_errdetail());
        return 1;
    }
    printf("env payload_bytes=%llu reps=%d zmq_io_threads=default\n",
           (unsigned long long)m->payload_len, reps);
    fflush(stdout);
    if (bench_flag_set(argc, argv, "--curve"))
        rc |= join_curve(psyncd, m, reps);
    else if (strcmp(tr, "tcp") != 0)
        rc |= join_transport("ipc", psyncd, m, reps);
    if (!bench_flag_set(argc, argv, "--curve") && strcmp(tr, "ipc") != 0)
        rc |= join_transport("tcp", psyncd, m, reps);
    psync_model_destroy(&m);
    return rc;
}

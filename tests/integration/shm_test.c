/* shm_test.c: the same-host shared-memory path through a real psyncd on
 * ipc:// endpoints: sync rounds whose snapshots and merged chunks travel
 * through shared memory and merge exactly (byte counters prove the path);
 * the same over tcp:// loopback, beside a member in another pid namespace
 * (as on another host) that cannot map the segments and uses frames;
 * members that decline (PSYNC_SHM=0) or a daemon with --no-shm fall
 * back to frames in the same cluster; a restarted daemon restores the
 * merged version its members kept in shared memory; and a hostile
 * member's inbox (bad offsets, a wrong segment, shrinking the sealed
 * segment; then, caught as psyncd merges it, a wrong crc, a value written
 * after the headers were sent, an Inf) is refused and counted while
 * the merge stays exact and finite; a merged chunk rewritten in psyncd's
 * segment before a worker applies it is caught in the apply; and a
 * joiner's bootstrap comes through shared memory (held back until the
 * offer is answered, as frames again after a decline), its chunks kept
 * there as the recovery copy a restarted daemon is restored from. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "blob.h"
#include "cluster_kit.h"
#include "shm.h"

#define N 1500 /* floats in "w": 3 chunks of 4096 bytes */
#define CHUNK 4096
static const char *const flags[] = {
    "--chunk-bytes", "4096", "--heartbeat-ms", "100", "--member-timeout-ms", "1000", NULL};

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/psync-shm-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    char p[128];
    kit_cleanup();
    snprintf(p, sizeof p, "%s/c.sock", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/b.sock", dir);
    unlink(p);
    rmdir(dir);
    (void)state;
    return 0;
}

/* Starts psyncd (flags f) on ipc:// in dir, or on tcp:// loopback when
 * tcp; a uploads, b bootstraps. */
static void join_two_over(bool tcp, kit_daemon *d, const char *const *f, psync_client **a,
                          psync_model **ma, psync_client **b, psync_model **mb)
{
    assert_int_equal(tcp ? kit_daemon_start(d, f) : kit_daemon_start_ipc(d, dir, f), 0);
    *a = kit_client(d, "a");
    *b = kit_client(d, "b");
    *ma = kit_model(N, 1.0f, 0.0f);
    *mb = NULL;
    assert_int_equal(psync_client_join(*a, ma, 10000), PSYNC_OK);
    assert_int_equal(psync_client_join(*b, mb, 10000), PSYNC_OK);
}

static void join_two(kit_daemon *d, const char *const *f, psync_client **a, psync_model **ma,
                     psync_client **b, psync_model **mb)
{
    join_two_over(false, d, f, a, ma, b, mb);
}

/* Runs rounds (values 2r, 2r + 4) until `want` members use shared memory
 * (at most 10 rounds, each checked exact); asserts it happened. */
static void rounds_until_shm(const kit_daemon *d, psync_client *a, psync_model *ma, psync_client *b,
                             psync_model *mb, uint32_t want)
{
    uint32_t n = 0;
    for (int r = 0; r < 10 && n != want; r++) {
        assert_true(kit_round_two(a, ma, b, mb, 2.0f * r, 2.0f * r + 4, 10000));
        assert_int_equal(kit_status_transport(d, "shm", &n), 0);
    }
    assert_int_equal(n, want);
}

/* a publishes twice before the merge: the second goes as frames (its inbox
 * may still be merged from) and replaces the first; the merge is exact. */
static void publish_twice(const kit_daemon *d, psync_client *a, psync_model *ma, psync_client *b,
                          psync_model *mb)
{
    uint64_t shm0, in0, shm1, in1 = 0;
    assert_int_equal(kit_status_u64(d, "shm_bytes_in", &shm0), 0);
    assert_int_equal(kit_status_u64(d, "bytes_in", &in0), 0);
    kit_fill(ma, "w", 5.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    kit_fill(ma, "w", 7.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    for (int i = 0; i < 500 && in1 < in0 + 2 * ma->payload_len; i++) /* both in, b not yet */
        assert_int_equal(kit_status_u64(d, "bytes_in", &in1), 0);
    assert_int_equal(in1, in0 + 2 * ma->payload_len);
    kit_fill(mb, "w", 1.0f);
    assert_int_equal(psync_client_publish(b, mb, 1), PSYNC_OK);
    assert_true(kit_poll_all((psync_client *[]){a, b}, (psync_model *[]){ma, mb}, 2, 10000));
    assert_true(kit_maxdiff(ma, "w", 4.0f) < 1e-6); /* (7 + 1) / 2 */
    assert_int_equal(kit_status_u64(d, "shm_bytes_in", &shm1), 0);
    assert_int_equal(kit_status_u64(d, "bytes_in", &in1), 0);
    assert_int_equal(shm1 - shm0, 2 * ma->payload_len); /* a's first, b's */
    assert_int_equal(in1 - in0, 3 * ma->payload_len);
}

static void test_rounds_through_shm(void **state)
{
    (void)state;
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    uint64_t in0, out0, in1, out1, frames_out0, frames_out1;
    join_two(&d, flags, &a, &ma, &b, &mb);
    rounds_until_shm(&d, a, ma, b, mb, 2);
    assert_int_equal(kit_status_u64(&d, "shm_bytes_in", &in0), 0);
    assert_int_equal(kit_status_u64(&d, "shm_bytes_out", &out0), 0);
    assert_int_equal(kit_status_u64(&d, "bytes_out", &frames_out0), 0);
    assert_true(kit_round_two(a, ma, b, mb, 3.0f, 8.0f, 10000));
    assert_true(kit_round_two(a, ma, b, mb, -1.0f, 1.0f, 10000));
    assert_int_equal(kit_status_u64(&d, "shm_bytes_in", &in1), 0);
    assert_int_equal(kit_status_u64(&d, "shm_bytes_out", &out1), 0);
    assert_int_equal(kit_status_u64(&d, "bytes_out", &frames_out1), 0);
    /* two rounds, two members, every byte of both directions through shm */
    assert_int_equal(in1 - in0, 4 * ma->payload_len);
    assert_int_equal(out1 - out0, 4 * ma->payload_len);
    assert_int_equal(frames_out1 - frames_out0, 4 * ma->payload_len);
    publish_twice(&d, a, ma, b, mb);
    kit_finish_two(&d, a, ma, b, mb);
}

static void test_fallback_to_frames(void **state)
{
    (void)state;
    static const char *const off[] = {"--chunk-bytes", "4096", "--no-shm", NULL};
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    uint32_t n = 9;
    uint64_t in = 1;
    join_two(&d, off, &a, &ma, &b, &mb);
    for (int r = 0; r < 3; r++)
        assert_true(kit_round_two(a, ma, b, mb, 1.0f * r, 3.0f, 10000));
    assert_int_equal(kit_status_transport(&d, "frames", &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(kit_status_u64(&d, "shm_bytes_in", &in), 0);
    assert_int_equal(in, 0);
    kit_finish_two(&d, a, ma, b, mb);

    /* one member declines (PSYNC_SHM=0): it stays on frames beside one on shm */
    assert_int_equal(kit_daemon_start_ipc(&d, dir, flags), 0);
    a = kit_client(&d, "a");
    setenv("PSYNC_SHM", "0", 1);
    b = kit_client(&d, "b");
    unsetenv("PSYNC_SHM");
    ma = kit_model(N, 1.0f, 0.0f);
    mb = NULL;
    assert_int_equal(psync_client_join(a, &ma, 10000), PSYNC_OK);
    assert_int_equal(psync_client_join(b, &mb, 10000), PSYNC_OK);
    rounds_until_shm(&d, a, ma, b, mb, 1);
    assert_true(kit_round_two(a, ma, b, mb, 5.0f, 6.0f, 10000));
    assert_int_equal(kit_status_transport(&d, "frames", &n), 0);
    assert_int_equal(n, 1);
    kit_finish_two(&d, a, ma, b, mb);
}

static void test_restart_restores_from_shm_copies(void **state)
{
    (void)state;
    kit_daemon d;
    psync_client *a, *b, *c;
    psync_model *ma, *mb, *mc = NULL;
    join_two(&d, flags, &a, &ma, &b, &mb);
    rounds_until_shm(&d, a, ma, b, mb, 2);
    assert_true(kit_round_two(a, ma, b, mb, 2.0f, 4.0f, 10000));
    uint64_t v = psync_client_held_version(a), old_inc = psync_client_incarnation(a);
    kill(d.pid, SIGKILL); /* its segments stay mapped by the workers */
    waitpid(d.pid, NULL, 0);
    kit_fill(ma, "w", 7.0f); /* local progress since: not what must be restored */
    kit_fill(mb, "w", 9.0f);
    assert_int_equal(kit_daemon_restart(&d, flags), 0);
    for (int i = 0;
         i < 600 && (psync_client_incarnation(a) == old_inc ||
                     psync_client_incarnation(b) == old_inc || psync_client_daemon_version(b) != v);
         i++) {
        psync_client_poll(a, ma, 5, NULL);
        psync_client_poll(b, mb, 5, NULL);
    }
    assert_int_equal(psync_client_daemon_version(b), v);
    c = kit_client(&d, "c");
    assert_int_equal(psync_client_join(c, &mc, 10000), PSYNC_OK);
    assert_true(kit_maxdiff(mc, "w", 3.0f) < 1e-6); /* the merged content, copied from shm */
    psync_client_destroy(&c);
    psync_model_destroy(&mc);
    kit_finish_two(&d, a, ma, b, mb);
}

/* The far member (shm_test --far CONTROL BULK), run in a new pid namespace
 * with its own /proc (as a process on another host sees it): joins the
 * daemon, publishes "w" = 9 and must apply the merge of that with a's 2
 * and b's 4, exactly 5. Its exit status: 0 when it did, else which step
 * failed. */
static int far_member(const char *control, const char *bulk)
{
    psync_client *c = NULL;
    psync_model *m = NULL;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
        return 2;
    if (psync_client_new(&c, &(psync_client_opts){.control = control, .bulk = bulk, .rank = -1}) ||
        psync_client_join(c, &m, 10000))
        return 3;
    kit_fill(m, "w", 9.0f);
    if (psync_client_publish(c, m, 1)) return 4;
    bool applied = kit_poll_all(&c, &m, 1, 20000);
    double diff = applied ? kit_maxdiff(m, "w", 5.0f) : 1.0;
    psync_client_destroy(&c);
    psync_model_destroy(&m);
    return !applied ? 5 : diff < 1e-6 ? 0 : 6;
}

/* Starts the far member: a child enters new pid and mount namespaces and
 * forks (only its children live in the new pid namespace), and that one
 * runs this program again as the far member (exec: no threads inherited
 * from this process). Its pid, or asserts. Exit status 77: this kernel or
 * container allows no namespaces here. */
static pid_t far_member_start(const kit_daemon *d)
{
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = 0;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid) return pid;
    if (unshare(CLONE_NEWPID | CLONE_NEWNS)) _exit(77);
    pid_t far = fork();
    if (far == 0) {
        execl(exe, exe, "--far", d->control, d->bulk, (char *)NULL);
        _exit(8);
    }
    int st = 1;
    _exit(far > 0 && waitpid(far, &st, 0) == far && WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

/* Over tcp:// on loopback, members on this host take shared memory as on
 * ipc://; a member in another pid namespace (as on another host) cannot
 * open the segments, declines, and its snapshot comes as frames in the same
 * exact rounds. */
static void test_tcp_same_host(void **state)
{
    (void)state;
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    uint32_t n_shm = 0, n_frames = 0, n_attached = 0;
    uint64_t in0, shm0, in1, shm1;
    join_two_over(true, &d, flags, &a, &ma, &b, &mb);
    assert_int_equal(strncmp(d.bulk, "tcp://127.0.0.1:", 16), 0);
    rounds_until_shm(&d, a, ma, b, mb, 2);
    assert_int_equal(kit_status_u64(&d, "bytes_in", &in0), 0);
    assert_int_equal(kit_status_u64(&d, "shm_bytes_in", &shm0), 0);
    pid_t far = far_member_start(&d); /* it publishes as soon as it joined */
    /* until it takes part in rounds (attached), else a and b may merge alone */
    for (int i = 0; i < 500 && (n_shm + n_frames < 3 || n_attached < 3); i++) {
        assert_int_equal(kit_status_transport(&d, "shm", &n_shm), 0);
        assert_int_equal(kit_status_transport(&d, "frames", &n_frames), 0);
        assert_int_equal(kit_status_attached(&d, &n_attached), 0);
        int st;
        if (n_attached < 3 && waitpid(far, &st, WNOHANG) == far) {
            if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
                skip(); /* no namespaces here: say so, do not pass */
            fail_msg("the far member exited (status %d) before it joined", st);
        }
        usleep(10000);
    }
    assert_int_equal(n_attached, 3);
    assert_int_equal(n_shm, 2);
    assert_int_equal(n_frames, 1);
    kit_fill(ma, "w", 2.0f);
    kit_fill(mb, "w", 4.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    assert_int_equal(psync_client_publish(b, mb, 1), PSYNC_OK);
    assert_true(kit_poll_all((psync_client *[]){a, b}, (psync_model *[]){ma, mb}, 2, 20000));
    assert_true(kit_maxdiff(ma, "w", 5.0f) < 1e-6 && kit_maxdiff(mb, "w", 5.0f) < 1e-6);
    int st = -1;
    assert_int_equal(waitpid(far, &st, 0), far);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(kit_status_u64(&d, "bytes_in", &in1), 0);
    assert_int_equal(kit_status_u64(&d, "shm_bytes_in", &shm1), 0);
    assert_int_equal(shm1 - shm0, 2 * ma->payload_len);             /* a's and b's */
    assert_int_equal((in1 - in0) - (shm1 - shm0), ma->payload_len); /* the far one's, as frames */
    kit_finish_two(&d, a, ma, b, mb);
}

/* A raw member of d: hello, attach, and the SHM_OFFER it is sent. */
static void raw_member(kit_peer *p, const kit_daemon *d, const psync_model *m, uint64_t held,
                       uint64_t inc, psync_wire_hdr *welcome, psync_wire_hdr *offer)
{
    psync_wire_hdr h;
    kit_peer_open(p, d, "raw-shm", "raw-shm");
    kit_hello_init(&h, m, held);
    h.held_inc = inc; /* holds the current version: nothing is streamed to it */
    assert_int_equal(kit_peer_hello(p, &h, welcome), 0);
    psync_wire_init(&h, PSYNC_MSG_ATTACH, welcome->inc);
    h.m = welcome->m;
    kit_raw_send_hdr(p->bulk, &h, NULL, 0);
    assert_int_equal(kit_raw_recv_any(p->bulk, offer, 3000), 0);
    assert_int_equal(offer->t, PSYNC_MSG_SHM_OFFER);
}

/* A SNAPSHOT_SHM header for chunk k of m's payload as written in inbox. */
static void shm_chunk(psync_wire_hdr *h, const psync_wire_hdr *w, const psync_model *m,
                      const psync_shm *inbox, uint64_t base, uint64_t k)
{
    uint64_t off = k * CHUNK, n = m->payload_len - off < CHUNK ? m->payload_len - off : CHUNK;
    psync_wire_init(h, PSYNC_MSG_SNAPSHOT_SHM, w->inc);
    h->m = w->m;
    h->layout = w->layout;
    h->base = base;
    h->samples = 1;
    h->offset = off;
    h->total = m->payload_len;
    h->crc = psync_wire_crc(inbox->p + off, n);
}

/* The sealed inbox cannot be shrunk by its member (no SIGBUS in psyncd). */
static void assert_sealed(const psync_wire_hdr *offer)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%llu/fd/%llu", (unsigned long long)offer->pid,
             (unsigned long long)offer->seg);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_not_equal(ftruncate(fd, 0), 0);
    close(fd);
}

static void hostile_inbox(void *bulk, const psync_wire_hdr *w, const psync_wire_hdr *offer,
                          psync_model *evil, psync_shm *inbox, uint64_t v)
{
    psync_wire_hdr h;
    memcpy(inbox->p, evil->payload, evil->payload_len);
    shm_chunk(&h, w, evil, inbox, v, 0);
    h.offset = 100;
    kit_raw_send_hdr(bulk, &h, NULL, 0);
    kit_expect_error(bulk, "EPROTO", NULL); /* not a chunk boundary */
    h.offset = 3 * CHUNK;
    kit_raw_send_hdr(bulk, &h, NULL, 0);
    kit_expect_error(bulk, "EPROTO", NULL); /* past total */
    h.total = offer->total + 8 * CHUNK;
    h.offset = 4 * CHUNK;
    kit_raw_send_hdr(bulk, &h, NULL, 0);
    kit_expect_error(bulk, "ELIMIT", NULL); /* outside the inbox */
}

/* Asserts an ERROR with code reaches the raw member, skipping the merged
 * chunks it is sent meanwhile. */
static void expect_error_among(void *bulk, const char *code)
{
    psync_wire_hdr r = {0};
    for (int i = 0; i < 64 && r.t != PSYNC_MSG_ERROR; i++)
        assert_int_equal(kit_raw_recv(bulk, &r, 3000), 0);
    assert_int_equal(r.t, PSYNC_MSG_ERROR);
    if (strcmp(r.code, code)) fail_msg("expected %s, got %s (%s)", code, r.code, r.detail);
}

/* Writes evil (w = value) into the inbox and sends its chunk headers. */
static void publish_inbox(void *bulk, const psync_wire_hdr *w, psync_model *evil, psync_shm *inbox,
                          float value, uint64_t base)
{
    psync_wire_hdr h;
    kit_fill(evil, "w", value);
    memcpy(inbox->p, evil->payload, evil->payload_len);
    for (uint64_t k = 0; k < 3; k++) {
        shm_chunk(&h, w, evil, inbox, base, k);
        kit_raw_send_hdr(bulk, &h, NULL, 0);
    }
}

/* a (w = 1) and b (w = 2) publish; true if both apply w == want. */
static bool round_of(psync_client *a, psync_model *ma, psync_client *b, psync_model *mb, float want)
{
    kit_fill(ma, "w", 1.0f);
    kit_fill(mb, "w", 2.0f);
    return !psync_client_publish(a, ma, 1) && !psync_client_publish(b, mb, 1) &&
           kit_poll_all((psync_client *[]){a, b}, (psync_model *[]){ma, mb}, 2, 10000) &&
           kit_maxdiff(ma, "w", want) < 1e-6 && kit_maxdiff(mb, "w", want) < 1e-6;
}

/* How a hostile member's inbox snapshot goes wrong (refused_when_merged). */
typedef enum { WRONG_CRC, REWRITTEN, HOLDS_INF } hostile_way;

/* The raw member publishes its inbox (w = 6) wrong in one way: a header's
 * crc that is not its chunk's, a value written into the inbox after every
 * header was sent (its crc no longer holds), or an Inf its crc covers.
 * psyncd reads the inbox only as it merges, so that is where it is caught:
 * the member is refused (counted), the round restarts, and once the
 * member publishes a good snapshot again the three merge exactly. */
static void refused_when_merged(const kit_daemon *d, kit_peer *p, const psync_wire_hdr *w,
                                psync_model *evil, psync_shm *inbox, psync_client *a,
                                psync_model *ma, psync_client *b, psync_model *mb, hostile_way how)
{
    const char *code = how == HOLDS_INF ? "ENONFINITE" : "EPROTO";
    const char *counter = how == HOLDS_INF ? "nonfinite" : "bad_chunk";
    /* all in the last chunk: once psyncd merges it, it has every header
     * (they come in order), so none arrives after the refusal */
    const uint64_t last = 2, at = last * CHUNK / 4 + 52; /* a float of "w/momentum" */
    uint64_t v = psync_client_held_version(a), c0 = 0, c1 = 0, ver = 0;
    psync_wire_hdr h;
    assert_int_equal(kit_status(d, &ver, counter, &c0), 0);
    kit_fill(evil, "w", 6.0f);
    memcpy(inbox->p, evil->payload, evil->payload_len);
    if (how == HOLDS_INF) ((float *)(void *)inbox->p)[at] = 1.0f / 0.0f;
    for (uint64_t k = 0; k < 3; k++) {
        shm_chunk(&h, w, evil, inbox, v, k);
        h.crc ^= how == WRONG_CRC && k == last;
        kit_raw_send_hdr(p->bulk, &h, NULL, 0);
    }
    if (how == REWRITTEN) ((float *)(void *)inbox->p)[at] = 5.0f; /* finite, but not its crc */
    kit_fill(ma, "w", 1.0f);
    kit_fill(mb, "w", 2.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    assert_int_equal(psync_client_publish(b, mb, 1), PSYNC_OK);
    expect_error_among(p->bulk, code);
    assert_int_equal(kit_status(d, &ver, counter, &c1), 0);
    assert_int_equal(c1, c0 + 1);
    assert_int_equal(ver, v); /* nothing merged from it */
    publish_inbox(p->bulk, w, evil, inbox, 6.0f, v);
    assert_true(kit_poll_all((psync_client *[]){a, b}, (psync_model *[]){ma, mb}, 2, 10000));
    assert_true(kit_maxdiff(ma, "w", 3.0f) < 1e-6); /* (1 + 2 + 6) / 3, finite */
    assert_true(kit_maxdiff(mb, "w", 3.0f) < 1e-6);
}

static void test_hostile_member(void **state)
{
    (void)state;
    kit_daemon d;
    kit_peer p;
    psync_client *a, *b;
    psync_model *ma, *mb, *evil = NULL;
    psync_wire_hdr w, offer, h;
    psync_shm inbox;
    uint64_t v = 0, v2 = 0, chunk = 0, st = 0;
    uint32_t n = 0;
    join_two(&d, flags, &a, &ma, &b, &mb);
    rounds_until_shm(&d, a, ma, b, mb, 2);
    v = psync_client_held_version(a);
    raw_member(&p, &d, ma, v, psync_client_incarnation(a), &w, &offer);
    assert_int_equal(psync_model_clone(ma, &evil), PSYNC_OK);
    shm_chunk(&h, &w, evil, &(psync_shm){evil->payload, evil->payload_len, 0, -1}, v, 0);
    kit_raw_send_hdr(p.bulk, &h, NULL, 0);
    kit_expect_error(p.bulk, "EPROTO", NULL); /* no inbox accepted yet */
    psync_wire_init(&h, PSYNC_MSG_SHM_ACCEPT, w.inc);
    h.m = w.m;
    h.sid = offer.sid + 1;
    kit_raw_send_hdr(p.bulk, &h, NULL, 0);
    kit_expect_error(p.bulk, "EMISMATCH", NULL); /* not its segment */
    assert_int_equal(psync_shm_open(offer.pid, offer.seg, offer.sid, offer.total, true, &inbox),
                     PSYNC_OK);
    assert_sealed(&offer);
    h.sid = offer.sid;
    kit_raw_send_hdr(p.bulk, &h, NULL, 0);
    for (int i = 0; i < 100 && n != 3; i++) /* accepted: three members on shm */
        assert_int_equal(kit_status_transport(&d, "shm", &n), 0);
    assert_int_equal(n, 3);
    hostile_inbox(p.bulk, &w, &offer, evil, &inbox, v);
    assert_int_equal(kit_status(&d, &v2, "bad_chunk", &chunk), 0);
    assert_int_equal(kit_status(&d, &v2, "unexpected", &st), 0);
    assert_int_equal(v2, v);
    assert_true(chunk >= 3 && st >= 1);

    /* a good snapshot written into the inbox merges with a's and b's */
    publish_inbox(p.bulk, &w, evil, &inbox, 6.0f, v);
    assert_true(round_of(a, ma, b, mb, 3.0f)); /* (1 + 2 + 6) / 3 */
    refused_when_merged(&d, &p, &w, evil, &inbox, a, ma, b, mb, WRONG_CRC);
    refused_when_merged(&d, &p, &w, evil, &inbox, a, ma, b, mb, REWRITTEN);
    refused_when_merged(&d, &p, &w, evil, &inbox, a, ma, b, mb, HOLDS_INF);
    psync_shm_close(&inbox);
    psync_model_destroy(&evil);
    kit_peer_close(&p);
    kit_finish_two(&d, a, ma, b, mb);
}

/* XORs mask into byte off of every merged segment psyncd (pid) holds,
 * found as its memfds named psync-merged-*; returns how many. */
static int flip_merged(pid_t pid, uint64_t off, uint8_t mask)
{
    char path[64], link[256];
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
        ssize_t k = readlink(path, link, sizeof link - 1);
        if (k <= 0) continue;
        link[k] = 0;
        if (!strstr(link, "psync-merged-")) continue;
        int f = open(path, O_RDWR);
        assert_true(f >= 0);
        uint8_t *p = mmap(NULL, off + 1, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
        assert_true(p != MAP_FAILED);
        p[off] ^= mask;
        munmap(p, off + 1);
        close(f);
        n++;
    }
    return n;
}

/* A merged chunk psyncd's segment holds is checked as it is applied, not
 * only when its header came: rewritten in between (as a segment reused
 * for a later version would be), the worker does not apply it, declines
 * shared memory and applies the same version again from frames, exactly;
 * the other member applies it from shared memory. */
static void test_merged_rewritten_before_apply(void **state)
{
    (void)state;
    kit_daemon d;
    psync_client *a, *b;
    psync_model *ma, *mb;
    uint32_t n = 0;
    uint64_t v = 0, out0 = 0, out1 = 0;
    bool applied = false;
    join_two(&d, flags, &a, &ma, &b, &mb);
    rounds_until_shm(&d, a, ma, b, mb, 2);
    uint64_t held = psync_client_held_version(a);
    kit_fill(ma, "w", 3.0f);
    kit_fill(mb, "w", 5.0f);
    assert_int_equal(psync_client_publish(a, ma, 1), PSYNC_OK);
    assert_int_equal(psync_client_publish(b, mb, 1), PSYNC_OK);
    for (int i = 0; i < 100 && v <= held; i++) /* merged, headers on their way */
        assert_int_equal(kit_status(&d, &v, NULL, NULL), 0);
    assert_true(v > held);
    assert_int_equal(psync_client_poll(a, NULL, 200, NULL), PSYNC_OK); /* staged, not applied */
    assert_int_equal(kit_status_u64(&d, "bytes_out", &out0), 0);
    /* psyncd paused meanwhile, so the frames it resends carry its bytes as
     * they were */
    assert_int_equal(kill(d.pid, SIGSTOP), 0);
    assert_true(flip_merged(d.pid, 3, 0x01) >= 1); /* "w"[0]: 4.0 would read 16.0 */
    assert_int_equal(psync_client_poll(a, ma, 100, &applied), PSYNC_OK);
    assert_false(applied);
    assert_int_equal(psync_client_held_version(a), held);
    assert_true(flip_merged(d.pid, 3, 0x01) >= 1);
    assert_int_equal(kill(d.pid, SIGCONT), 0);
    assert_true(kit_poll_version(b, mb, v, 10000));
    assert_true(kit_maxdiff(mb, "w", 4.0f) < 1e-6);
    assert_true(kit_poll_version(a, ma, v, 10000)); /* again, as frames */
    assert_true(kit_maxdiff(ma, "w", 4.0f) < 1e-6);
    assert_int_equal(kit_status_u64(&d, "bytes_out", &out1), 0);
    assert_true(out1 - out0 >= ma->payload_len);
    assert_int_equal(kit_status_transport(&d, "shm", &n), 0);
    assert_int_equal(n, 1); /* b only */
    assert_true(kit_round_two(a, ma, b, mb, 1.0f, 2.0f, 10000));
    kit_finish_two(&d, a, ma, b, mb);
}

/* Receives one bulk message on s within 3 s: its header into h and, for
 * a BOOTSTRAP frame, its bytes copied into blob (cap bytes) at h->offset;
 * for a BOOTSTRAP_SHM header, the bytes at h->at of psyncd's segment
 * (opened through /proc as a worker does), whose crc must match. Returns
 * the chunk's length (0 for other messages). */
static uint64_t boot_recv(void *s, uint64_t pid, psync_wire_hdr *h, uint8_t *blob, uint64_t cap)
{
    zmq_msg_t fr[PSYNC_WIRE_MAX_FRAMES];
    int n = 0;
    bool extra = false;
    uint64_t len = 0;
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&it, 1, 3000), 1);
    assert_int_equal(psync_wire_recv(s, fr, &n, &extra), PSYNC_OK);
    assert_int_equal(psync_wire_decode(zmq_msg_data(&fr[0]), zmq_msg_size(&fr[0]), h), PSYNC_OK);
    if (h->t == PSYNC_MSG_BOOTSTRAP) {
        assert_int_equal(n, 2);
        len = zmq_msg_size(&fr[1]);
        assert_true(h->offset + len <= cap && h->total <= cap);
        assert_int_equal(psync_wire_crc(zmq_msg_data(&fr[1]), len), h->crc);
        memcpy(blob + h->offset, zmq_msg_data(&fr[1]), len);
    } else if (h->t == PSYNC_MSG_BOOTSTRAP_SHM) {
        psync_shm seg;
        len = h->total - h->offset < CHUNK ? h->total - h->offset : CHUNK;
        assert_true(h->offset + len <= cap && h->total <= cap);
        assert_int_equal(psync_shm_open(pid, h->seg, h->sid, h->at + len, false, &seg), PSYNC_OK);
        assert_int_equal(psync_wire_crc(seg.p + h->at, len), h->crc);
        memcpy(blob + h->offset, seg.p + h->at, len);
        psync_shm_close(&seg);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&fr[i]);
    return len;
}

/* Receives a whole bootstrap blob (BOOTSTRAP frames, and BOOTSTRAP_SHM
 * headers unless frames_only: then those are skipped, as already-queued
 * headers are after a decline) into blob; counts the bytes that came
 * through shared memory; returns the blob's size. */
static uint64_t boot_collect(void *s, uint64_t pid, uint8_t *blob, uint64_t cap, bool frames_only,
                             uint64_t *shm_bytes)
{
    uint64_t got = 0, total = 0;
    *shm_bytes = 0;
    for (int i = 0; i < 256 && (!total || got < total); i++) {
        psync_wire_hdr h;
        uint64_t n = boot_recv(s, pid, &h, blob, cap);
        if (h.t == PSYNC_MSG_BOOTSTRAP_SHM && frames_only) continue;
        if (h.t != PSYNC_MSG_BOOTSTRAP && h.t != PSYNC_MSG_BOOTSTRAP_SHM) continue;
        total = h.total;
        got += n;
        *shm_bytes += h.t == PSYNC_MSG_BOOTSTRAP_SHM ? n : 0;
    }
    assert_int_equal(got, total);
    return total;
}

/* The blob decodes to a model whose "w" is all `want`. */
static void assert_blob_w(uint8_t *blob, uint64_t len, float want)
{
    psync_model *m = NULL;
    assert_int_equal(psync_blob_decode(blob, len, NULL, PSYNC_DECODE_COPY, &m), PSYNC_OK);
    assert_true(kit_maxdiff(m, "w", want) < 1e-6);
    psync_model_destroy(&m);
}

/* A joiner on this host is offered shared memory before its bootstrap,
 * which psyncd holds back until the offer is answered; accepted, the
 * blob's header chunk comes as a frame and its payload chunks as
 * bootstrap_shm headers into psyncd's merged segment, each crc matching
 * the bytes there; declined mid-stream, psyncd stops, and the blob asked
 * for again comes as frames. Both decode to the cluster's model. */
static void test_bootstrap_through_shm(void **state)
{
    (void)state;
    kit_daemon d;
    kit_peer p;
    psync_client *a, *b;
    psync_model *ma, *mb;
    psync_wire_hdr hello, w, offer, h;
    static uint8_t blob[16 * CHUNK] __attribute__((aligned(64)));
    uint64_t shm = 0, len;
    uint32_t n = 0;
    join_two(&d, flags, &a, &ma, &b, &mb);
    assert_true(kit_round_two(a, ma, b, mb, 2.0f, 4.0f, 10000)); /* "w" = 3 */
    kit_peer_open(&p, &d, "raw-join", "raw-join");
    psync_wire_init(&hello, PSYNC_MSG_HELLO, 0); /* no model, layout 0: a joiner */
    assert_int_equal(kit_peer_hello(&p, &hello, &w), 0);
    assert_string_equal(w.action, "bootstrap");
    psync_wire_init(&h, PSYNC_MSG_ATTACH, w.inc);
    h.m = w.m;
    kit_raw_send_hdr(p.bulk, &h, NULL, 0);
    assert_int_equal(kit_raw_recv_any(p.bulk, &offer, 3000), 0);
    assert_int_equal(offer.t, PSYNC_MSG_SHM_OFFER);
    psync_wire_init(&h, PSYNC_MSG_BOOTSTRAP_REQ, w.inc);
    h.m = w.m;
    kit_raw_send_hdr(p.bulk, &h, NULL, 0);
    assert_int_equal(kit_raw_recv_any(p.bulk, &h, 300), -1); /* held back: offer unanswered */
    psync_wire_init(&h, PSYNC_MSG_SHM_ACCEPT, w.inc);
    h.m = w.m;
    h.sid = offer.sid;
    kit_raw_send_hdr(p.bulk, &h, NULL, 0);
    len = boot_collect(p.bulk, offer.pid, blob, sizeof blob, false, &shm);
    assert_true(shm >= ma->payload_len - CHUNK && shm < len); /* all but the head's chunk */
    assert_blob_w(blob, len, 3.0f);

    memset(blob, 0, sizeof blob);
    psync_wire_init(&h, PSYNC_MSG_BOOTSTRAP_REQ, w.inc);
    h.m = w.m;
    kit_raw_send_hdr(p.bulk, &h, NULL, 0);
    do /* through the head's frame to the first header into the segment */
        boot_recv(p.bulk, offer.pid, &h, blob, sizeof blob);
    while (h.t != PSYNC_MSG_BOOTSTRAP_SHM);
    psync_wire_init(&h, PSYNC_MSG_SHM_ACCEPT, w.inc);
    h.m = w.m;
    h.sid = 0; /* as a joiner that could not map it: it then asks again */
    kit_raw_send_hdr(p.bulk, &h, NULL, 0);
    psync_wire_init(&h, PSYNC_MSG_BOOTSTRAP_REQ, w.inc);
    h.m = w.m;
    kit_raw_send_hdr(p.bulk, &h, NULL, 0);
    memset(blob, 0, sizeof blob);
    assert_int_equal(boot_collect(p.bulk, offer.pid, blob, sizeof blob, true, &shm), len);
    assert_blob_w(blob, len, 3.0f);
    assert_int_equal(kit_status_transport(&d, "frames", &n), 0);
    assert_int_equal(n, 1);
    kit_peer_close(&p);
    assert_true(kit_round_two(a, ma, b, mb, 1.0f, 2.0f, 10000));
    kit_finish_two(&d, a, ma, b, mb);
}

/* A client that bootstrapped through shared memory keeps the payload's
 * chunks where they lie in psyncd's segment as its recovery copy: psyncd
 * killed, its only member restores a restarted one from that copy (the
 * merged content, not its own progress since), and a new joiner gets it. */
static void test_bootstrap_copy_restores(void **state)
{
    (void)state;
    kit_daemon d;
    psync_client *a, *b, *c;
    psync_model *ma, *mb, *mc = NULL;
    uint64_t out0 = 0, shm0 = 0, out1 = 0, shm1 = 0;
    join_two(&d, flags, &a, &ma, &b, &mb);
    assert_true(kit_round_two(a, ma, b, mb, 2.0f, 4.0f, 10000)); /* "w" = 3 */
    uint64_t v = psync_client_held_version(a);
    psync_client_destroy(&a); /* leaves: c will be the only holder */
    psync_model_destroy(&ma);
    assert_int_equal(kit_status_u64(&d, "bytes_out", &out0), 0);
    assert_int_equal(kit_status_u64(&d, "shm_bytes_out", &shm0), 0);
    c = kit_client(&d, "c");
    assert_int_equal(psync_client_join(c, &mc, 10000), PSYNC_OK);
    assert_true(kit_maxdiff(mc, "w", 3.0f) < 1e-6);
    assert_int_equal(kit_status_u64(&d, "bytes_out", &out1), 0);
    assert_int_equal(kit_status_u64(&d, "shm_bytes_out", &shm1), 0);
    assert_true(shm1 - shm0 >= mc->payload_len - CHUNK); /* the payload, but the head's chunk */
    assert_true(out1 - out0 < mc->payload_len + 2 * CHUNK);
    psync_client_destroy(&b);
    psync_model_destroy(&mb);
    uint64_t old_inc = psync_client_incarnation(c);
    kill(d.pid, SIGKILL); /* the segment c's copy lies in stays mapped by c */
    waitpid(d.pid, NULL, 0);
    kit_fill(mc, "w", 9.0f); /* local progress since: not what must be restored */
    assert_int_equal(kit_daemon_restart(&d, flags), 0);
    for (int i = 0;
         i < 600 && (psync_client_incarnation(c) == old_inc || psync_client_daemon_version(c) != v);
         i++)
        psync_client_poll(c, mc, 5, NULL);
    assert_int_equal(psync_client_daemon_version(c), v);
    a = kit_client(&d, "a");
    ma = NULL;
    assert_int_equal(psync_client_join(a, &ma, 10000), PSYNC_OK);
    assert_true(kit_maxdiff(ma, "w", 3.0f) < 1e-6); /* restored from c's segment copy */
    kit_finish_two(&d, a, ma, c, mc);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--far")) return far_member(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rounds_through_shm, kit_teardown),
        cmocka_unit_test_teardown(test_fallback_to_frames, kit_teardown),
        cmocka_unit_test_teardown(test_restart_restores_from_shm_copies, kit_teardown),
        cmocka_unit_test_teardown(test_hostile_member, kit_teardown),
        cmocka_unit_test_teardown(test_merged_rewritten_before_apply, kit_teardown),
        cmocka_unit_test_teardown(test_tcp_same_host, kit_teardown),
        cmocka_unit_test_teardown(test_bootstrap_through_shm, kit_teardown),
        cmocka_unit_test_teardown(test_bootstrap_copy_restores, kit_teardown),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}

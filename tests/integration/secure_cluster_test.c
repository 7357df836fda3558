/* secure_cluster_test.c: a real psyncd with CURVE and an allow-list over
 * 127.0.0.1, two authorised workers merging, and two intruders: a plain
 * client (no CURVE) and a CURVE client whose key is not allow-listed. Each
 * tries, through the client library and with raw frames, to publish a
 * snapshot, read the merged weights and bootstrap; none gets a byte, and
 * the authorised workers' rounds go on. Also: psync-worker with a wrong
 * server key exits 77 within 5 s saying what to fix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster_kit.h"
#include "keys.h"
#include "security.h"

#define N 1500
static char dir[64];

static void path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Key pairs server, w1, w2, rogue; allow-list dir with w1 and w2 only. */
static void make_keys(void)
{
    static const char *const names[] = {"server", "w1", "w2", "rogue"};
    snprintf(dir, sizeof dir, "/tmp/psync-sec-XXXXXX");
    assert_int_equal(kit_keys_make(dir, names, 4, 0x6u), 0);
}

static void drop_keys(void)
{
    assert_int_equal(kit_keys_remove(dir), 0);
}

/* The good workers' keys go through the environment (as a launcher would). */
static void env_keys(const char *who)
{
    char p[256], q[256];
    snprintf(p, sizeof p, "%s/%s.key", dir, who);
    path(q, sizeof q, "server.pub");
    setenv("PSYNC_KEY_FILE", p, 1);
    setenv("PSYNC_SERVER_KEY", q, 1);
}

static void start_daemon(kit_daemon *d)
{
    static char key[256], allow[256];
    path(key, sizeof key, "server.key");
    path(allow, sizeof allow, "allow");
    const char *const flags[] = {"--chunk-bytes", "4096", "--key-file", key,
                                 "--allow-list",  allow,  NULL};
    assert_int_equal(kit_daemon_start(d, flags), 0);
}

/* An intruder client (key_file NULL: plain) must be refused by connect. */
static void intruder_client(const kit_daemon *d, const char *key_file, const char *server_key)
{
    psync_client *c = NULL;
    psync_model *m = NULL;
    psync_client_opts o = {.control = d->control,
                           .bulk = d->bulk,
                           .name = "intruder",
                           .rank = -1,
                           .key_file = key_file,
                           .server_key = server_key};
    uint64_t t0 = kit_now_ms();
    assert_int_equal(psync_client_new(&c, &o), PSYNC_OK);
    assert_int_equal(psync_client_connect(c, NULL, 5000), PSYNC_EAUTH);
    assert_true(kit_now_ms() - t0 < 3000);
    assert_int_not_equal(psync_client_bootstrap(c, &m, 500), PSYNC_OK);
    assert_null(m);
    psync_client_destroy(&c);
    /* asked to keep retrying, it waits out its timeout instead */
    o.retry_auth = true;
    assert_int_equal(psync_client_new(&c, &o), PSYNC_OK);
    assert_int_equal(psync_client_connect(c, NULL, 600), PSYNC_ETIMEOUT);
    psync_client_destroy(&c);
}

/* Raw frames of an intruder, forged with a's member id and incarnation:
 * hello, attach (to receive merged), snapshot, bootstrap request, status.
 * Nothing may come back on either socket. */
static void intruder_raw(const kit_daemon *d, psync_client *a, psync_model *ma)
{
    kit_peer p;
    kit_peer_open(&p, d, "intruder-c", "intruder-b");
    void *ctl = p.ctl, *blk = p.bulk;
    psync_wire_hdr h, r;
    uint64_t inc = psync_client_incarnation(a), m = psync_client_member_id(a);
    psync_wire_init(&h, PSYNC_MSG_HELLO, 0);
    kit_raw_send_hdr(ctl, &h, NULL, 0);
    psync_wire_init(&h, PSYNC_MSG_STATUS_REQ, 0);
    kit_raw_send_hdr(ctl, &h, NULL, 0);
    psync_wire_init(&h, PSYNC_MSG_ATTACH, inc);
    h.m = m;
    kit_raw_send_hdr(blk, &h, NULL, 0);
    psync_wire_init(&h, PSYNC_MSG_BOOTSTRAP_REQ, inc);
    h.m = m;
    kit_raw_send_hdr(blk, &h, NULL, 0);
    psync_wire_init(&h, PSYNC_MSG_SNAPSHOT, inc);
    h.m = m;
    h.layout = psync_model_layout_hash(ma);
    h.total = ma->payload_len;
    h.base = psync_client_held_version(a);
    h.samples = 1000;
    h.crc = psync_wire_crc(ma->payload, 4096);
    kit_raw_send_hdr(blk, &h, ma->payload, 4096);
    assert_int_not_equal(kit_raw_recv(ctl, &r, 700), 0);
    assert_int_not_equal(kit_raw_recv(blk, &r, 100), 0);
    kit_peer_close(&p);
}

static void test_intruders_refused_workers_served(void **state)
{
    (void)state;
    char rogue_key[256], server_pub[256], rogue_pub[256];
    kit_daemon d;
    make_keys();
    path(rogue_key, sizeof rogue_key, "rogue.key");
    path(server_pub, sizeof server_pub, "server.pub");
    path(rogue_pub, sizeof rogue_pub, "rogue.pub");
    start_daemon(&d);
    env_keys("w1");
    psync_client *a = kit_client(&d, "a"), *b;
    psync_model *ma = kit_model(N, 1.0f, 0.0f), *mb = NULL;
    env_keys("w2");
    b = kit_client(&d, "b");
    assert_int_equal(psync_client_join(a, &ma, 10000), PSYNC_OK);
    assert_int_equal(psync_client_join(b, &mb, 10000), PSYNC_OK);
    assert_true(kit_round_two(a, ma, b, mb, 2.0f, 4.0f, 10000));
    uint64_t snaps = 0, merges = 0;
    assert_int_equal(kit_status_u64(&d, "snapshots", &snaps), 0);

    /* 1. no CURVE at all (plain client, loopback allowed on its side) */
    unsetenv("PSYNC_KEY_FILE");
    unsetenv("PSYNC_SERVER_KEY");
    intruder_client(&d, NULL, NULL);
    intruder_raw(&d, a, ma);
    env_keys("w1");
    assert_true(kit_round_two(a, ma, b, mb, 6.0f, 8.0f, 10000));
    /* 2. CURVE with the right server key, but a key not on the allow-list */
    intruder_client(&d, rogue_key, server_pub);
    setenv("PSYNC_KEY_FILE", rogue_key, 1);
    intruder_raw(&d, a, ma);
    env_keys("w1");
    assert_true(kit_round_two(a, ma, b, mb, 1.0f, 3.0f, 10000));
    /* 3. allow-listed key, wrong server key: refused by the handshake */
    intruder_client(&d, rogue_key, rogue_pub);

    uint64_t snaps2 = 0, denied = 0;
    assert_int_equal(kit_status_u64(&d, "snapshots", &snaps2), 0);
    assert_int_equal(kit_status_u64(&d, "merges", &merges), 0);
    assert_int_equal(kit_status_u64(&d, "auth_denied", &denied), 0);
    assert_int_equal(snaps2 - snaps, 4); /* only a's and b's two rounds */
    assert_int_equal(merges, 3);
    assert_true(denied >= 4);
    kit_finish(&d, (psync_client *[]){a, b}, 2, (psync_model *[]){ma, mb}, 2);
    unsetenv("PSYNC_KEY_FILE");
    unsetenv("PSYNC_SERVER_KEY");
    drop_keys();
}

/* Runs psync-worker hot-joining with w1's key but the rogue's key as the
 * server key; returns its exit status and elapsed ms, stderr in log. */
static int run_worker(const kit_daemon *d, const char *log, uint64_t *ms)
{
    char key[256], srv[256];
    path(key, sizeof key, "w1.key");
    path(srv, sizeof srv, "rogue.pub");
    uint64_t t0 = kit_now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        freopen(log, "w", stderr);
        execl(PSYNC_WORKER_PATH, PSYNC_WORKER_PATH, "--connect", d->control, "--key-file", key,
              "--server-key", srv, "--join-timeout-ms", "20000", (char *)NULL);
        _exit(127);
    }
    int st = -1;
    for (int i = 0; i < 1000 && waitpid(pid, &st, WNOHANG) == 0; i++)
        usleep(10000);
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    *ms = kit_now_ms() - t0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_worker_wrong_server_key_exits(void **state)
{
    (void)state;
    kit_daemon d;
    char log[256], text[4096] = {0};
    uint64_t ms = 0;
    make_keys();
    start_daemon(&d);
    usleep(200000);
    path(log, sizeof log, "worker.log");
    assert_int_equal(run_worker(&d, log, &ms), 77); /* EX_NOPERM */
    assert_true(ms < 5000);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_non_null(strstr(text, "wrong server public key"));
    printf("psync-worker refused in %llu ms\n", (unsigned long long)ms);
    assert_int_equal(kit_daemon_stop(&d), 0);
    drop_keys();
}

/* `psync status KEYS ENDPOINT`: exit status; elapsed ms in *ms. */
static int run_status(const kit_daemon *d, const char *key, const char *srv, uint64_t *ms)
{
    char cmd[1024], k[256], s[256];
    path(k, sizeof k, key);
    path(s, sizeof s, srv);
    snprintf(cmd, sizeof cmd,
             "%s status --timeout-ms 3000 --key-file %s --server-key %s %s "
             ">/dev/null 2>&1",
             PSYNC_CLI_PATH, k, s, d->control);
    uint64_t t0 = kit_now_ms();
    int st = system(cmd);
    *ms = kit_now_ms() - t0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* psync status answers an allow-listed key; a refused key, a wrong server
 * key or no CURVE at all exit 77 (EX_NOPERM) at once, not on the timeout. */
static void test_status_with_curve(void **state)
{
    (void)state;
    kit_daemon d;
    uint64_t ms = 0;
    char cmd[512];
    make_keys();
    start_daemon(&d);
    usleep(200000);
    assert_int_equal(run_status(&d, "w1.key", "server.pub", &ms), 0);
    assert_int_equal(run_status(&d, "rogue.key", "server.pub", &ms), 77);
    assert_true(ms < 2000);
    assert_int_equal(run_status(&d, "w1.key", "rogue.pub", &ms), 77);
    assert_true(ms < 2000);
    snprintf(cmd, sizeof cmd, "%s status --timeout-ms 3000 %s >/dev/null 2>&1", PSYNC_CLI_PATH,
             d.control);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 77);
    assert_int_equal(kit_daemon_stop(&d), 0);
    drop_keys();
}

/* Plain psyncd on a non-loopback bind is refused unless asked for. */
static void test_plain_remote_needs_flag(void **state)
{
    (void)state;
    int st = -1;
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execl(PSYNCD_PATH, PSYNCD_PATH, "--bind-control", "tcp://*:0", "--bind-bulk",
              "tcp://127.0.0.1:0", (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 78); /* EX_CONFIG */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_intruders_refused_workers_served, kit_teardown),
        cmocka_unit_test_teardown(test_worker_wrong_server_key_exits, kit_teardown),
        cmocka_unit_test_teardown(test_status_with_curve, kit_teardown),
        cmocka_unit_test(test_plain_remote_needs_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

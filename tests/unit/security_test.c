/* security_test.c: CURVE + ZAP over real ZeroMQ sockets on 127.0.0.1. An
 * allow-listed client talks; an unlisted key, a wrong server key, a client
 * without CURVE and a server whose ZAP handler is missing or stopped all get
 * nothing through, and the client's watcher says PSYNC_EAUTH within 3 s. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "security.h"

#define REFUSE_WITHIN_MS 3000

typedef struct fixture {
    void *ctx;
    psync_keypair server, worker, stranger;
    psync_security *sec; /* server side, on ctx */
    void *srv;           /* ROUTER bound on ep */
    char ep[64];
} fixture;

static void *linger0(void *s)
{
    int zero = 0;
    assert_non_null(s);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    return s;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Binds a ROUTER on ctx to an ephemeral loopback port with sec applied. */
static void *bind_server(void *ctx, psync_security *sec, char *ep, size_t cap)
{
    void *s = linger0(zmq_socket(ctx, ZMQ_ROUTER));
    assert_int_equal(psync_security_apply(sec, s, "tcp://127.0.0.1:*"), PSYNC_OK);
    assert_int_equal(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &cap);
    return s;
}

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof f);
    f.ctx = zmq_ctx_new();
    psync_keypair_generate(&f.server);
    psync_keypair_generate(&f.worker);
    psync_keypair_generate(&f.stranger);
    psync_allowlist *allow;
    psync_allowlist_new(&allow);
    psync_allowlist_add(allow, f.worker.public_key, "worker1");
    if (psync_security_server_new(&f.sec, f.ctx, &f.server, allow)) return -1;
    f.srv = bind_server(f.ctx, f.sec, f.ep, sizeof f.ep);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    zmq_close(f->srv);
    psync_security_destroy(&f->sec);
    zmq_ctx_term(f->ctx);
    return 0;
}

/* A DEALER on ctx with CURVE client options (own pair, server key), or
 * none at all when own is NULL. */
static void *client_socket(void *ctx, const psync_keypair *own, const char *server_key)
{
    void *s = linger0(zmq_socket(ctx, ZMQ_DEALER));
    if (!own) return s;
    psync_security *c;
    assert_int_equal(psync_security_client_new(&c, own, server_key), PSYNC_OK);
    assert_int_equal(psync_security_apply(c, s, "tcp://127.0.0.1:1"), PSYNC_OK);
    psync_security_destroy(&c);
    return s;
}

/* Connects cli under the watcher; asserts it says want within the bound. */
static void expect_handshake(void *ctx, void *cli, const char *ep, psync_err want)
{
    long long t0 = now_ms();
    psync_err got = psync_security_watch_handshake(ctx, cli, ep, REFUSE_WITHIN_MS + 2000);
    long long ms = now_ms() - t0;
    print_message("    handshake -> %s in %lld ms (%s)\n", psync_strerror(got), ms,
                  got ? psync_errdetail() : "");
    assert_int_equal(got, want);
    assert_true(ms < REFUSE_WITHIN_MS);
}

/* Number of bytes of the payload srv receives within ms, -1 if none. With
 * user not NULL, checks the frame's User-Id (set by the ZAP handler). */
static int server_receives(void *srv, int ms, const char *user)
{
    zmq_setsockopt(srv, ZMQ_RCVTIMEO, &ms, sizeof ms);
    char id[256];
    if (zmq_recv(srv, id, sizeof id, 0) < 0) return -1;
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, srv, 0) >= 0);
    int n = (int)zmq_msg_size(&m);
    if (user) assert_string_equal(zmq_msg_gets(&m, "User-Id"), user);
    zmq_msg_close(&m);
    return n;
}

static void send_hello(void *cli)
{
    zmq_send(cli, "hello", 5, ZMQ_DONTWAIT);
}

/* A client with own (NULL: no CURVE) and server_key connects to ep: its
 * watcher must say PSYNC_EAUTH within the bound and srv must get nothing. */
static void expect_refused(void *ctx, void *srv, const char *ep, const psync_keypair *own,
                           const char *server_key)
{
    void *cli = client_socket(ctx, own, server_key);
    expect_handshake(ctx, cli, ep, PSYNC_EAUTH);
    send_hello(cli);
    assert_int_equal(server_receives(srv, 300, NULL), -1);
    zmq_close(cli);
}

static void test_allowed_client_talks(void **state)
{
    fixture *f = *state;
    void *cli = client_socket(f->ctx, &f->worker, f->server.public_key);
    expect_handshake(f->ctx, cli, f->ep, PSYNC_OK);
    assert_int_equal(zmq_send(cli, "hello", 5, 0), 5);
    assert_int_equal(server_receives(f->srv, 2000, "worker1"), 5);
    psync_security_counts c;
    psync_security_counts_get(f->sec, &c);
    assert_int_equal(c.accepted, 1);
    assert_int_equal(c.denied, 0);
    zmq_close(cli);
}

static void test_unlisted_key_refused(void **state)
{
    fixture *f = *state;
    expect_refused(f->ctx, f->srv, f->ep, &f->stranger, f->server.public_key);
    assert_non_null(strstr(psync_errdetail(), "allow-list"));
    psync_security_counts c;
    psync_security_counts_get(f->sec, &c);
    assert_int_equal(c.accepted, 0);
    assert_true(c.denied >= 1);
}

static void test_wrong_server_key_reported(void **state)
{
    fixture *f = *state;
    expect_refused(f->ctx, f->srv, f->ep, &f->worker, f->stranger.public_key);
    assert_non_null(strstr(psync_errdetail(), "wrong server public key"));
}

static void test_client_without_curve_gets_nothing(void **state)
{
    fixture *f = *state;
    expect_refused(f->ctx, f->srv, f->ep, NULL, NULL);
    assert_non_null(strstr(psync_errdetail(), "security mismatch"));
}

static void test_garbage_peer_then_good_client(void **state)
{
    fixture *f = *state;
    struct sockaddr_in a = {.sin_family = AF_INET};
    int port = 0;
    assert_int_equal(sscanf(f->ep, "tcp://127.0.0.1:%d", &port), 1);
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char junk[512];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 131 + 7);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    void *cli = client_socket(f->ctx, &f->worker, f->server.public_key);
    expect_handshake(f->ctx, cli, f->ep, PSYNC_OK);
    close(fd);
    assert_int_equal(zmq_send(cli, "hello", 5, 0), 5);
    assert_int_equal(server_receives(f->srv, 2000, "worker1"), 5);
    zmq_close(cli);
}

static void test_other_domain_denied(void **state)
{
    fixture *f = *state;
    void *s = linger0(zmq_socket(f->ctx, ZMQ_ROUTER));
    int one = 1;
    char ep[64];
    size_t cap = sizeof ep;
    zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, f->server.secret_key, PSYNC_KEY_Z85_LEN);
    zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, "other", 5);
    assert_int_equal(zmq_bind(s, "tcp://127.0.0.1:*"), 0);
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &cap);
    expect_refused(f->ctx, s, ep, &f->worker, f->server.public_key);
    zmq_close(s);
}

static void test_second_handler_on_context_busy(void **state)
{
    fixture *f = *state;
    psync_security *again;
    psync_allowlist *allow;
    psync_allowlist_new(&allow);
    psync_allowlist_add(allow, f->worker.public_key, NULL);
    assert_int_equal(psync_security_server_new(&again, f->ctx, &f->server, allow), PSYNC_EBUSY);
    assert_null(again);
}

/* A context whose server socket has psync's options but no handler. */
static void test_missing_handler_fails_closed(void **state)
{
    fixture *f = *state;
    void *ctx2 = zmq_ctx_new();
    char ep[64];
    void *s = bind_server(ctx2, f->sec, ep, sizeof ep); /* handler lives on f->ctx */
    expect_refused(ctx2, s, ep, &f->worker, f->server.public_key);
    zmq_close(s);
    zmq_ctx_term(ctx2);
}

static void test_stopped_handler_fails_closed(void **state)
{
    fixture *f = *state;
    void *ctx2 = zmq_ctx_new();
    psync_allowlist *allow;
    psync_security *sec;
    char ep[64];
    psync_allowlist_new(&allow);
    psync_allowlist_add(allow, f->worker.public_key, NULL);
    assert_int_equal(psync_security_server_new(&sec, ctx2, &f->server, allow), PSYNC_OK);
    void *s = bind_server(ctx2, sec, ep, sizeof ep);
    psync_security_destroy(&sec); /* the handler dies; the socket lives on */
    expect_refused(ctx2, s, ep, &f->worker, f->server.public_key);
    zmq_close(s);
    zmq_ctx_term(ctx2);
}

static void test_no_server_times_out(void **state)
{
    fixture *f = *state;
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t alen = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* bound, never listening: refuses */
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    void *cli = client_socket(f->ctx, &f->worker, f->server.public_key);
    long long t0 = now_ms();
    assert_int_equal(psync_security_watch_handshake(f->ctx, cli, ep, 300), PSYNC_ETIMEOUT);
    assert_true(now_ms() - t0 >= 290);
    zmq_close(cli);
    close(fd);
}

/* The file-based constructors, as psyncd and a worker use them: keys made
 * on disk, an allow-list directory of .pub files. */
/* A burst of refused clients: each is counted, the log stays short. */
static void test_denials_counted_and_log_rate_limited(void **state)
{
    fixture *f = *state;
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    int saved = dup(STDERR_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    psync_err got[12];
    for (int i = 0; i < 12; i++) {
        void *cli = client_socket(f->ctx, &f->stranger, f->server.public_key);
        got[i] = psync_security_watch_handshake(f->ctx, cli, f->ep, REFUSE_WITHIN_MS);
        zmq_close(cli);
    }
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(pipefd[1]);
    static char buf[65536];
    ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
    close(pipefd[0]);
    buf[n > 0 ? n : 0] = '\0';
    int lines = 0;
    for (const char *p = buf; (p = strstr(p, "event=auth_denied")); p++)
        lines++;
    for (int i = 0; i < 12; i++)
        assert_int_equal(got[i], PSYNC_EAUTH);
    psync_security_counts c;
    psync_security_counts_get(f->sec, &c);
    assert_true(c.denied >= 12);
    assert_true(lines >= 5 && lines <= 10); /* 5 a second; the burst may span two */
}

static void test_keys_from_files(void **state)
{
    fixture *f = *state;
    char dir[] = "/tmp/psync-sec-XXXXXX", key[96], pub[96], allow[96], cmd[128];
    assert_non_null(mkdtemp(dir));
    snprintf(allow, sizeof allow, "%s/workers", dir);
    assert_int_equal(mkdir(allow, 0755), 0);
    snprintf(key, sizeof key, "%s/psyncd.key", dir);
    snprintf(pub, sizeof pub, "%s/psyncd.pub", dir);
    assert_int_equal(psync_keypair_save(&f->server, key, 0), PSYNC_OK);
    assert_int_equal(psync_pubkey_save(f->server.public_key, pub, 0), PSYNC_OK);
    snprintf(cmd, sizeof cmd, "%s/rank7.pub", allow);
    assert_int_equal(psync_pubkey_save(f->worker.public_key, cmd, 0), PSYNC_OK);
    void *ctx2 = zmq_ctx_new();
    psync_security *srv_sec, *cli_sec;
    char ep[64];
    assert_int_equal(psync_security_server_from_files(&srv_sec, ctx2, key, allow), PSYNC_OK);
    void *s = bind_server(ctx2, srv_sec, ep, sizeof ep);
    snprintf(key, sizeof key, "%s/rank7.key", dir);
    assert_int_equal(psync_keypair_save(&f->worker, key, 0), PSYNC_OK);
    assert_int_equal(psync_security_client_from_files(&cli_sec, key, pub), PSYNC_OK);
    void *cli = linger0(zmq_socket(ctx2, ZMQ_DEALER));
    assert_int_equal(psync_security_apply(cli_sec, cli, ep), PSYNC_OK);
    expect_handshake(ctx2, cli, ep, PSYNC_OK);
    assert_int_equal(zmq_send(cli, "hello", 5, 0), 5);
    assert_int_equal(server_receives(s, 2000, "rank7"), 5);
    zmq_close(cli);
    zmq_close(s);
    psync_security_destroy(&cli_sec);
    psync_security_destroy(&srv_sec);
    zmq_ctx_term(ctx2);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_plain_mode_is_loopback_only(void **state)
{
    fixture *f = *state;
    psync_security *plain;
    void *s = linger0(zmq_socket(f->ctx, ZMQ_ROUTER));
    assert_int_equal(psync_security_plain_new(&plain, 0), PSYNC_OK);
    assert_true(psync_security_is_plain(plain));
    assert_int_equal(psync_security_apply(plain, s, "ipc:///tmp/psync.sock"), PSYNC_OK);
    assert_int_equal(psync_security_apply(plain, s, "tcp://127.0.0.1:5555"), PSYNC_OK);
    assert_int_equal(psync_security_apply(plain, s, "tcp://10.1.2.3:5555"), PSYNC_ECONFIG);
    assert_int_equal(psync_security_apply(plain, s, "tcp://*:5555"), PSYNC_ECONFIG);
    psync_security_destroy(&plain);
    assert_int_equal(psync_security_plain_new(&plain, 1), PSYNC_OK);
    assert_int_equal(psync_security_apply(plain, s, "tcp://*:5555"), PSYNC_OK);
    psync_security_destroy(&plain);
    zmq_close(s);
}

static void test_loopback_rule_table(void **state)
{
    static const struct {
        const char *ep;
        bool required;
    } rows[] = {
        {"ipc:///tmp/psyncd.sock", false},
        {"ipc://@abstract", false},
        {"inproc://psync-ctl", false},
        {"tcp://127.0.0.1:5555", false},
        {"tcp://127.9.8.7:1", false},
        {"tcp://localhost:5555", false},
        {"tcp://LOCALHOST:5555", false},
        {"tcp://[::1]:5555", false},
        {"tcp://[::ffff:127.0.0.1]:5555", false},
        {"tcp://127.0.0.1:*", false},
        {"tcp://*:5555", true},
        {"tcp://0.0.0.0:5555", true},
        {"tcp://10.0.0.1:5555", true},
        {"tcp://192.168.1.5:5555", true},
        {"tcp://128.0.0.1:5555", true},
        {"tcp://[::]:5555", true},
        {"tcp://[2001:db8::1]:5555", true},
        {"tcp://eth0:5555", true},
        {"tcp://lo:5555", true},
        {"tcp://localhost.example.com:5555", true},
        {"tcp://127.0.0.1:5555;10.0.0.1:5555", true},
        {"tcp://127.0.0.1", true},
        {"tcp://[::1]", true},
        {"ws://127.0.0.1:5555", true},
        {"pgm://eth0;239.192.1.1:5555", true},
        {"", true},
        {NULL, true},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (psync_security_required(rows[i].ep) != rows[i].required)
            fail_msg("psync_security_required(%s) should be %d", rows[i].ep ? rows[i].ep : "NULL",
                     rows[i].required);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_allowed_client_talks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlisted_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_server_key_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_without_curve_gets_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_peer_then_good_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_domain_denied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_handler_on_context_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_handler_fails_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stopped_handler_fails_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_server_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_denials_counted_and_log_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_from_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_mode_is_loopback_only, setup, teardown),
        cmocka_unit_test(test_loopback_rule_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

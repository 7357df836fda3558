/* netem_wire: a userspace link emulator for kernels without sch_netem. One
 * process is one virtual cable between two network namespaces: it owns a TUN
 * device in each and forwards IP packets both ways through a per-direction
 * FIFO delay line (delay, uniform jitter, random loss, drop-tail, rate). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"

enum {
    WIRE_MTU = 1500,           /* set on both TUN devices */
    WIRE_SLOT_BYTES = 2048,    /* one queued packet; larger ones are dropped */
    WIRE_READ_BYTES = 65536,   /* one read(): never truncates a TUN packet */
    WIRE_READ_BURST = 64,      /* packets read per direction per wake-up */
    WIRE_QUEUE_DEFAULT = 1000, /* packets per direction, like netem's limit */
    WIRE_QUEUE_LIMIT = 16384,
};

struct wire_opts {
    const char *ns[2], *dev[2];
    uint64_t delay_ns, jitter_ns;
    double loss; /* probability in [0, 1] */
    uint64_t seed, rate_bps;
    size_t queue_max;
};

struct wire_slot {
    uint64_t due_ns;
    uint32_t len;
    unsigned char data[WIRE_SLOT_BYTES];
};

/* One direction: packets read from in_fd wait in the ring, then go to out_fd. */
struct wire_dir {
    const char *name;
    int in_fd, out_fd;
    uint64_t rng[4];
    struct wire_slot *ring;
    size_t cap, head, count;
    uint64_t last_due_ns, link_free_ns;
    uint64_t rx, forwarded, lost, queue_full, link_down, oversize, errors;
};

static volatile sig_atomic_t wire_stop;
static unsigned char wire_scratch[WIRE_READ_BYTES];

static void wire_on_signal(int sig)
{
    (void)sig;
    wire_stop = 1;
}

static uint64_t wire_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Uniform double in [0, 1) with 53 random bits from psync's xoshiro256**. */
static double wire_rng_unit(uint64_t s[4])
{
    return (double)(psync_rng_next(s) >> 11) * 0x1.0p-53;
}

/* --- TUN devices inside namespaces ----------------------------------------- */

static int wire_ns_open(const char *ns)
{
    char path[512];
    if (strchr(ns, '/'))
        snprintf(path, sizeof path, "%s", ns);
    else
        snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fprintf(stderr, "netem_wire: namespace %s: %s\n", path, strerror(errno));
    return fd;
}

static int wire_set_mtu(const char *dev)
{
    struct ifreq ifr = {0};
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
    ifr.ifr_mtu = WIRE_MTU;
    int rc = ioctl(s, SIOCSIFMTU, &ifr);
    close(s);
    return rc;
}

/* Creates TUN device dev (IFF_TUN | IFF_NO_PI, non-blocking, MTU 1500) in the
 * current namespace. Returns its fd, or -1 with a message on stderr. */
static int wire_tun_create(const char *dev)
{
    struct ifreq ifr = {0};
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "netem_wire: /dev/net/tun: %s\n", strerror(errno));
        return -1;
    }
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", dev);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 || wire_set_mtu(dev) < 0) {
        fprintf(stderr, "netem_wire: TUN device %s: %s\n", dev, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Opens TUN device dev inside namespace ns (a name under /var/run/netns or a
 * path; NULL: the current one) and comes back to the current namespace.
 * Returns the device's fd (the device lives as long as the fd), or -1. */
static int wire_tun_open_in(const char *ns, const char *dev)
{
    if (!ns) return wire_tun_create(dev);
    int fd = -1, self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int target = wire_ns_open(ns);
    if (self < 0 || target < 0) goto close_ns;
    if (setns(target, CLONE_NEWNET) < 0) {
        fprintf(stderr, "netem_wire: setns %s: %s\n", ns, strerror(errno));
        goto close_ns;
    }
    fd = wire_tun_create(dev);
    if (setns(self, CLONE_NEWNET) < 0) {
        fprintf(stderr, "netem_wire: setns back: %s\n", strerror(errno));
        if (fd >= 0) close(fd);
        fd = -1;
    }
close_ns:
    if (target >= 0) close(target);
    if (self >= 0) close(self);
    return fd;
}

/* --- the delay line --------------------------------------------------------- */

/* Departure time of a packet of len bytes arriving at now: after the packets
 * before it have been serialised at rate_bps (0: no rate limit). */
static uint64_t wire_departure(struct wire_dir *d, const struct wire_opts *o, uint64_t now,
                               size_t len)
{
    if (!o->rate_bps) return now;
    uint64_t start = d->link_free_ns > now ? d->link_free_ns : now;
    d->link_free_ns = start + (uint64_t)len * 8u * 1000000000u / o->rate_bps;
    return d->link_free_ns;
}

/* Release time: departure + delay + uniform jitter in [-jitter, +jitter],
 * never before the previous packet of this direction (FIFO: no reordering). */
static uint64_t wire_due(struct wire_dir *d, const struct wire_opts *o, uint64_t departure)
{
    double u = 2.0 * wire_rng_unit(d->rng) - 1.0;
    int64_t jitter = (int64_t)(u * (double)o->jitter_ns);
    uint64_t due_ns = departure + o->delay_ns;
    if (jitter < 0 && (uint64_t)-jitter > o->delay_ns)
        due_ns = departure;
    else
        due_ns = (uint64_t)((int64_t)due_ns + jitter);
    if (due_ns < d->last_due_ns) due_ns = d->last_due_ns;
    d->last_due_ns = due_ns;
    return due_ns;
}

static void wire_enqueue(struct wire_dir *d, const struct wire_opts *o, const void *pkt, size_t len,
                         uint64_t now)
{
    d->rx++;
    if (len > WIRE_SLOT_BYTES) {
        d->oversize++;
        return;
    }
    if (o->loss > 0 && wire_rng_unit(d->rng) < o->loss) {
        d->lost++;
        return;
    }
    if (d->count == d->cap) {
        d->queue_full++;
        return;
    }
    struct wire_slot *s = &d->ring[(d->head + d->count) % d->cap];
    s->due_ns = wire_due(d, o, wire_departure(d, o, now, len));
    s->len = (uint32_t)len;
    memcpy(s->data, pkt, len);
    d->count++;
}

/* Reads up to WIRE_READ_BURST packets from d->in_fd into the delay line. */
static void wire_read_burst(struct wire_dir *d, const struct wire_opts *o)
{
    for (int i = 0; i < WIRE_READ_BURST; i++) {
        ssize_t n = read(d->in_fd, wire_scratch, sizeof wire_scratch);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) d->errors++;
            return;
        }
        wire_enqueue(d, o, wire_scratch, (size_t)n, wire_now_ns());
    }
}

/* Writes every packet whose time has come; a down device (EIO) drops it. */
static void wire_release(struct wire_dir *d, uint64_t now)
{
    while (d->count && d->ring[d->head].due_ns <= now) {
        struct wire_slot *s = &d->ring[d->head];
        ssize_t n = write(d->out_fd, s->data, s->len);
        if (n == (ssize_t)s->len)
            d->forwarded++;
        else if (n < 0 && errno == EIO)
            d->link_down++;
        else
            d->errors++;
        d->head = (d->head + 1) % d->cap;
        d->count--;
    }
}

/* ppoll timeout (nanosecond resolution) until the next due packet; NULL:
 * nothing queued, wait for input only. */
static struct timespec *wire_timeout(struct wire_dir d[2], uint64_t now, struct timespec *ts)
{
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < 2; i++)
        if (d[i].count && d[i].ring[d[i].head].due_ns < next) next = d[i].ring[d[i].head].due_ns;
    if (next == UINT64_MAX) return NULL;
    uint64_t wait = next > now ? next - now : 0;
    ts->tv_sec = (time_t)(wait / 1000000000u);
    ts->tv_nsec = (long)(wait % 1000000000u);
    return ts;
}

/* --- main loop, options, counters ---------------------------------------- */

static int wire_run(struct wire_dir d[2], const struct wire_opts *o, const sigset_t *waitmask)
{
    struct pollfd pfd[2] = {{.fd = d[0].in_fd, .events = POLLIN},
                            {.fd = d[1].in_fd, .events = POLLIN}};
    while (!wire_stop) {
        struct timespec ts;
        uint64_t now = wire_now_ns();
        wire_release(&d[0], now);
        wire_release(&d[1], now);
        int n = ppoll(pfd, 2, wire_timeout(d, now, &ts), waitmask);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "netem_wire: ppoll: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; n > 0 && i < 2; i++) {
            if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL)) {
                fprintf(stderr, "netem_wire: %s: device gone\n", d[i].name);
                return 1;
            }
            if (pfd[i].revents & POLLIN) wire_read_burst(&d[i], o);
        }
    }
    return 0;
}

static void wire_print_counters(const struct wire_dir d[2])
{
    for (int i = 0; i < 2; i++)
        fprintf(stderr,
                "%s%s rx=%llu forwarded=%llu lost=%llu queue_full=%llu link_down=%llu "
                "oversize=%llu errors=%llu",
                i ? "; " : "netem_wire: ", d[i].name, (unsigned long long)d[i].rx,
                (unsigned long long)d[i].forwarded, (unsigned long long)d[i].lost,
                (unsigned long long)d[i].queue_full, (unsigned long long)d[i].link_down,
                (unsigned long long)d[i].oversize, (unsigned long long)d[i].errors);
    fprintf(stderr, "\n");
}

static void wire_usage(FILE *out)
{
    fprintf(out,
            "usage: netem_wire --dev-a NAME --dev-b NAME [--ns-a NS] [--ns-b NS] [options]\n"
            "\n"
            "One virtual cable between two network namespaces, for kernels without\n"
            "sch_netem. Creates TUN device A (IFF_TUN|IFF_NO_PI, MTU %d) in namespace\n"
            "A and B in namespace B, and forwards IP packets between them both ways,\n"
            "each direction through its own FIFO delay line. Configure addresses and\n"
            "bring the devices up yourself, after the line \"ready\" on stdout.\n"
            "\n"
            "  --ns-a NS, --ns-b NS  namespace: a name under /var/run/netns, or a path\n"
            "                        such as /proc/PID/ns/net (default: the current one)\n"
            "  --dev-a NAME, --dev-b NAME  TUN device names (required, < %d chars)\n"
            "  --delay-ms MS         one-way delay per direction (default 0)\n"
            "  --jitter-ms MS        uniform jitter in [-MS, +MS] added to the delay; a\n"
            "                        packet never leaves before the previous one (FIFO,\n"
            "                        no reordering), so jitter compresses under load\n"
            "  --loss-pct P          drop each packet with probability P%% (default 0)\n"
            "  --rate-kbit R         serialise at R kbit/s before the delay (0: off)\n"
            "  --queue-max N         packets queued per direction, drop-tail beyond\n"
            "                        (default %d, at most %d; %d bytes each)\n"
            "  --seed N              RNG seed for loss and jitter (default 1)\n"
            "  -h, --help            this text\n"
            "\n"
            "Packets that arrive for a device that is down (EIO) are dropped and\n"
            "counted: `ip link set DEV down` on either side is a partition.\n"
            "SIGTERM/SIGINT: exit 0 after one line of per-direction counters on\n"
            "stderr (rx, forwarded, lost, queue_full, link_down, oversize, errors).\n"
            "Exit 1: setup or I/O failure; 2: bad usage.\n",
            WIRE_MTU, IFNAMSIZ, WIRE_QUEUE_DEFAULT, WIRE_QUEUE_LIMIT, WIRE_SLOT_BYTES);
}

/* Parses a decimal in [lo, hi]; returns 0 or -1 with a message. */
static int wire_number(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "netem_wire: --%s %s: expected a number in [%g, %g]\n", opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int wire_seed(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || *s == '-') {
        fprintf(stderr, "netem_wire: --seed %s: expected an unsigned integer\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static const struct option wire_longopts[] = {{"ns-a", required_argument, 0, 'A'},
                                              {"ns-b", required_argument, 0, 'B'},
                                              {"dev-a", required_argument, 0, 'a'},
                                              {"dev-b", required_argument, 0, 'b'},
                                              {"delay-ms", required_argument, 0, 'd'},
                                              {"jitter-ms", required_argument, 0, 'j'},
                                              {"loss-pct", required_argument, 0, 'l'},
                                              {"rate-kbit", required_argument, 0, 'r'},
                                              {"queue-max", required_argument, 0, 'q'},
                                              {"seed", required_argument, 0, 's'},
                                              {"help", no_argument, 0, 'h'},
                                              {0, 0, 0, 0}};

/* One option into o; returns 0, -1 on a bad value, 1 after --help. */
static int wire_option(int c, const char *arg, struct wire_opts *o)
{
    double v;
    switch (c) {
    case 'A':
        o->ns[0] = arg;
        return 0;
    case 'B':
        o->ns[1] = arg;
        return 0;
    case 'a':
        o->dev[0] = arg;
        return 0;
    case 'b':
        o->dev[1] = arg;
        return 0;
    case 's':
        return wire_seed(arg, &o->seed);
    case 'h':
        wire_usage(stdout);
        return 1;
    case 'd':
    case 'j':
        if (wire_number(c == 'd' ? "delay-ms" : "jitter-ms", arg, 0, 60000, &v)) return -1;
        *(c == 'd' ? &o->delay_ns : &o->jitter_ns) = (uint64_t)(v * 1e6);
        return 0;
    case 'l':
        if (wire_number("loss-pct", arg, 0, 100, &v)) return -1;
        o->loss = v / 100.0;
        return 0;
    case 'r':
        if (wire_number("rate-kbit", arg, 0, 1e8, &v)) return -1;
        o->rate_bps = (uint64_t)(v * 1000.0);
        return 0;
    case 'q':
        if (wire_number("queue-max", arg, 1, WIRE_QUEUE_LIMIT, &v)) return -1;
        o->queue_max = (size_t)v;
        return 0;
    }
    wire_usage(stderr);
    return -1;
}

/* Fills o from argv; returns 0, 1 (help shown: exit 0) or -1 (exit 2). */
static int wire_parse(int argc, char **argv, struct wire_opts *o)
{
    *o = (struct wire_opts){.seed = 1, .queue_max = WIRE_QUEUE_DEFAULT};
    int c, rc;
    while ((c = getopt_long(argc, argv, "h", wire_longopts, NULL)) != -1)
        if ((rc = wire_option(c, optarg, o)) != 0) return rc;
    if (optind < argc) {
        fprintf(stderr, "netem_wire: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (!o->dev[i] || !*o->dev[i] || strlen(o->dev[i]) >= IFNAMSIZ) {
            fprintf(stderr, "netem_wire: --dev-%c NAME required, < %d chars\n", 'a' + i, IFNAMSIZ);
            return -1;
        }
    }
    return 0;
}

/* Blocks SIGTERM/SIGINT (ppoll unblocks them with *waitmask) and installs
 * the handler that ends the loop. */
static void wire_signals(sigset_t *waitmask)
{
    sigset_t block;
    struct sigaction sa = {.sa_handler = wire_on_signal};
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, waitmask);
    sigdelset(waitmask, SIGTERM);
    sigdelset(waitmask, SIGINT);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static int wire_dir_init(struct wire_dir *d, const char *name, int in, int out,
                         const struct wire_opts *o, uint64_t stream)
{
    *d = (struct wire_dir){.name = name, .in_fd = in, .out_fd = out, .cap = o->queue_max};
    psync_rng_seed(d->rng, o->seed ^ stream);
    d->ring = calloc(d->cap, sizeof *d->ring);
    if (!d->ring) fprintf(stderr, "netem_wire: out of memory for %zu packets\n", d->cap);
    return d->ring ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct wire_opts o;
    struct wire_dir d[2] = {{0}};
    sigset_t waitmask;
    int rc = wire_parse(argc, argv, &o);
    if (rc) return rc > 0 ? 0 : 2;
    wire_signals(&waitmask);
    rc = 1;
    int fd_a = wire_tun_open_in(o.ns[0], o.dev[0]);
    int fd_b = fd_a < 0 ? -1 : wire_tun_open_in(o.ns[1], o.dev[1]);
    if (fd_b < 0) goto close_tuns;
    if (wire_dir_init(&d[0], "a>b", fd_a, fd_b, &o, 0) ||
        wire_dir_init(&d[1], "b>a", fd_b, fd_a, &o, 0x5bd1e995u))
        goto free_rings;
    printf("ready\n");
    fflush(stdout);
    rc = wire_run(d, &o, &waitmask);
    wire_print_counters(d);
free_rings:
    free(d[0].ring);
    free(d[1].ring);
close_tuns:
    if (fd_b >= 0) close(fd_b);
    if (fd_a >= 0) close(fd_a);
    return rc;
}

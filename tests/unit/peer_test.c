/* peer_test.c: daemon/peer.c, which peers psyncd treats as on its host
 * (and so offers shared memory): ipc:// peers, loopback addresses (v4, v6,
 * v4-mapped), this host's own interface addresses; not a documentation
 * address no interface here has; anything it cannot parse is left to the
 * segment id check (treated as local). */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"

static void test_loopback_and_ipc(void **state)
{
    (void)state;
    assert_true(psd_peer_address_local("localhost:0:0:4242")); /* ipc:// */
    assert_true(psd_peer_address_local("127.0.0.1"));
    assert_true(psd_peer_address_local("127.3.2.1"));
    assert_true(psd_peer_address_local("::1"));
    assert_true(psd_peer_address_local("::ffff:127.0.0.1"));
    assert_true(psd_peer_address_local(NULL));           /* not told: the id check decides */
    assert_true(psd_peer_address_local("fe80::1%eth0")); /* a form inet_pton refuses */
}

static void test_elsewhere(void **state)
{
    (void)state;
    /* RFC 5737 / RFC 3849 documentation ranges: no interface here has them */
    assert_false(psd_peer_address_local("192.0.2.7"));
    assert_false(psd_peer_address_local("::ffff:198.51.100.9"));
    assert_false(psd_peer_address_local("2001:db8::5"));
}

/* Every address of this host's interfaces counts as local. */
static void test_own_addresses(void **state)
{
    (void)state;
    struct ifaddrs *all = NULL;
    char text[INET6_ADDRSTRLEN];
    int n = 0;
    assert_int_equal(getifaddrs(&all), 0);
    for (const struct ifaddrs *i = all; i; i = i->ifa_next) {
        const struct sockaddr *sa = i->ifa_addr;
        if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) continue;
        const void *bin =
            sa->sa_family == AF_INET
                ? (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr
                : (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        assert_non_null(inet_ntop(sa->sa_family, bin, text, sizeof text));
        assert_true(psd_peer_address_local(text));
        n++;
    }
    freeifaddrs(all);
    assert_true(n >= 1); /* at least loopback */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_and_ipc),
        cmocka_unit_test(test_elsewhere),
        cmocka_unit_test(test_own_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* peer.c: whether a connection's peer runs on this host, from the
 * Peer-Address ZeroMQ attaches to every received frame: "localhost:UID:GID:PID"
 * over ipc://, the numeric IP over tcp://. psyncd offers shared memory only
 * to such peers; the segment's id check is what makes the offer safe, this
 * keeps psyncd from opening a segment for a peer that cannot take it. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"

/* An IPv4-mapped IPv6 address as the IPv4 one (*v4 set, true). */
static bool psd_peer_mapped(const struct in6_addr *a, struct in_addr *v4)
{
    if (!IN6_IS_ADDR_V4MAPPED(a)) return false;
    memcpy(&v4->s_addr, a->s6_addr + 12, 4);
    return true;
}

/* true if one of this host's interfaces (in psyncd's network namespace)
 * has address v4 (family AF_INET) or v6 (AF_INET6). */
static bool psd_peer_own_address(int family, const struct in_addr *v4, const struct in6_addr *v6)
{
    struct ifaddrs *all = NULL;
    bool own = false;
    if (getifaddrs(&all)) return false;
    for (const struct ifaddrs *i = all; i && !own; i = i->ifa_next) {
        const struct sockaddr *sa = i->ifa_addr;
        if (!sa || sa->sa_family != family) continue;
        if (family == AF_INET)
            own = ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr == v4->s_addr;
        else
            own = !memcmp(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, v6,
                          sizeof *v6);
    }
    freeifaddrs(all);
    return own;
}

bool psd_peer_address_local(const char *a)
{
    if (!a || !strncmp(a, "localhost:", 10)) return true; /* ipc://, or not told */
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET6, a, &v6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
        if (!psd_peer_mapped(&v6, &v4)) return psd_peer_own_address(AF_INET6, NULL, &v6);
    } else if (inet_pton(AF_INET, a, &v4) != 1) {
        return true; /* a form this build does not know: the id check decides */
    }
    return (ntohl(v4.s_addr) >> 24) == 127 || psd_peer_own_address(AF_INET, &v4, NULL);
}

bool psd_peer_on_host(const zmq_msg_t *frame, char *addr, size_t cap)
{
    const char *a = zmq_msg_gets((zmq_msg_t *)frame, "Peer-Address");
    snprintf(addr, cap, "%s", a ? a : "unknown");
    return psd_peer_address_local(a);
}

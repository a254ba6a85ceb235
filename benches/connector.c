/* connector.c: the floor of the pools benchmark's check part. It does what
 * a TCP check must, and nothing else: N connections a second to N
 * addresses (127.1.x.y, as benches/pools.sh numbers its members), spread
 * evenly over the second, each non-blocking, waited for with epoll, then
 * closed with a reset (SO_LINGER 0), as Palanquin's tcp check closes.
 * On loopback the kernel's work for both ends is charged to the connecting
 * process, so its CPU time is what 10,000 checks a second cost before any
 * scheduler, timer or bookkeeping of a real checker.
 *   cc -O2 -o connector connector.c && ./connector 10000 8080 SECONDS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: connector MEMBERS PORT SECONDS\n"); return 2; }
    int n = atoi(argv[1]), port = atoi(argv[2]);
    double seconds = atof(argv[3]);
    int ep = epoll_create1(0);
    struct epoll_event evs[256];
    double start = now(), next = start;
    long i = 0, done = 0, failed = 0;
    while (now() - start < seconds) {
        while (next <= now()) {
            int m = (int)(i % n);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
            a.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((m / 250) << 8) | (m % 250 + 1));
            int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (s < 0) { perror("socket"); return 1; }
            if (connect(s, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS) {
                struct epoll_event ev = {.events = EPOLLOUT, .data.fd = s};
                epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
            } else { failed++; close(s); }
            i++;
            next = start + (double)i / n;
        }
        double wait = next - now();
        if (wait < 0) wait = 0;
        struct timespec t = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (time_t)wait) * 1e9)};
        int k = epoll_pwait2(ep, evs, 256, &t, NULL);
        for (int j = 0; j < k; j++) {
            int s = evs[j].data.fd, err = 0;
            socklen_t len = sizeof err;
            getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
            struct linger l = {1, 0};
            setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            close(s);
            if (err) failed++; else done++;
        }
    }
    printf("%ld %ld\n", done, failed);
    return 0;
}

/* reflector: the floor of the side-by-side harnesses. Answers every UDP
 * datagram with the datagram itself, QR set, parsing nothing: one
 * recvfrom and one sendto per query, which is what the kernel's socket
 * path costs on this machine. Not a DNS server: a yardstick.
 *   cc -O2 -o reflector benches/reflector.c && ./reflector 127.0.3.9 5300 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: reflector IPV4 PORT\n");
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (fd < 0 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("reflector");
        return 1;
    }
    unsigned char buf[65536];
    for (;;) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &len);
        if (n < 3)
            continue;
        buf[2] |= 0x80;
        sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, len);
    }
}

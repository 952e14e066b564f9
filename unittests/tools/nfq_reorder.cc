// Reorders packets for tests (tests/test_tcp.py): takes every packet of an NFQUEUE queue,
// holds back about PERCENT % of them and lets each held one go only after the next DEPTH
// packets have passed, so that the receiver sees them out of order (nothing is lost).
//   nfq_reorder QUEUE PERCENT DEPTH
// Prints "ready" once bound, and on SIGTERM the number of packets seen and held.
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXHELD 64

static volatile sig_atomic_t stop;
static uint32_t held[MAXHELD], due[MAXHELD];
static int nheld;
static uint32_t seen, nhold, percent, depth, rnd = 0x12345678;

static void on_term(int s) { (void)s; stop = 1; }

static uint32_t next_rand(void) {
    rnd ^= rnd << 13;
    rnd ^= rnd >> 17;
    rnd ^= rnd << 5;
    return rnd;
}

static int cb(struct nfq_q_handle *q, struct nfgenmsg *m, struct nfq_data *d, void *arg) {
    (void)m, (void)arg;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(d);
    if (!ph) return 0;
    uint32_t id = ntohl(ph->packet_id);
    seen++;
    /* release the held packets whose turn has come, oldest first */
    int k = 0;
    for (int i = 0; i < nheld; i++) {
        if (seen >= due[i]) nfq_set_verdict(q, held[i], NF_ACCEPT, 0, NULL);
        else held[k] = held[i], due[k] = due[i], k++;
    }
    nheld = k;
    if (nheld < MAXHELD && next_rand() % 100 < percent) {
        held[nheld] = id;
        due[nheld] = seen + depth;
        nheld++;
        nhold++;
        return 0;
    }
    return nfq_set_verdict(q, id, NF_ACCEPT, 0, NULL);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: nfq_reorder QUEUE PERCENT DEPTH\n");
        return 2;
    }
    percent = (uint32_t)atoi(argv[2]);
    depth = (uint32_t)atoi(argv[3]);
    struct nfq_handle *h = nfq_open();
    if (!h) return perror("nfq_open"), 1;
    struct nfq_q_handle *q = nfq_create_queue(h, (uint16_t)atoi(argv[1]), cb, NULL);
    if (!q) return perror("nfq_create_queue"), 1;
    if (nfq_set_mode(q, NFQNL_COPY_META, 0) < 0) return perror("nfq_set_mode"), 1;
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int fd = nfq_fd(h);
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    printf("ready\n");
    fflush(stdout);
    char buf[65536];
    while (!stop) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            nfq_handle_packet(h, buf, (int)n);
        } else if (nheld) { /* quiet: let the held ones go rather than stall the flow */
            for (int i = 0; i < nheld; i++) nfq_set_verdict(q, held[i], NF_ACCEPT, 0, NULL);
            nheld = 0;
        }
    }
    for (int i = 0; i < nheld; i++) nfq_set_verdict(q, held[i], NF_ACCEPT, 0, NULL);
    printf("seen %u held %u\n", seen, nhold);
    nfq_destroy_queue(q);
    nfq_close(h);
    return 0;
}

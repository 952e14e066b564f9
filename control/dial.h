/* libdevip: Plan 9's dial(2) over devipd's /net (docs/dial.3). Installed as <devip/dial.h>.
 *
 * A process has one 9P connection to devipd, made by devip_connect() or, failing that, by
 * the first call that needs it ($DEVIP_SOCKET, else /run/devip/net.sock; stack
 * $DEVIP_STACK, else 0). Dialling follows dial(2) and ip3.md §1.5: clone, connect or
 * announce on its ctl, listen parks until a call arrives.
 *
 * A connection's data is a real file descriptor: one end of a socketpair (SOCK_STREAM for
 * stream protocols such as tcp, SOCK_SEQPACKET for datagram ones such as udp, so one write
 * is one datagram and one read returns one), whose other end devipd copies to and from the
 * conversation's data file (Tsplice, devip(4)); with DEVIP_SPLICE=0, or a devipd without
 * it, the library does, one thread each way. shutdown(fd, SHUT_WR) says the program has
 * finished sending: for tcp `shutdown` is written to the ctl (half close); replies keep
 * coming until the peer closes. When the conversation's data ends (a
 * read returns 0 or fails, e.g. "port unreachable"), the program reads end of file;
 * devip_fderr() then gives the reason. devip_close(fd) (or close(2)) ends the connection.
 *
 * Ctl handles (from devip_announce, devip_listen and dial's cfdp) are small integers of the
 * library's own, not file descriptors: they hold the conversation's ctl file open and are
 * released with devip_closectl().
 *
 * Errors: -1 (or NULL) and devip_errstr() gives the text, the server's Rerror text as it
 * sent it (e.g. "port unreachable", "address in use") or the library's own. The text is
 * per thread, as errstr(2) is per process on Plan 9.
 */
#ifndef DEVIP_DIAL_H
#define DEVIP_DIAL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DEVIP_API __attribute__((visibility("default")))
#else
#define DEVIP_API
#endif

enum {
    DEVIP_DIRLEN = 40,   /* room for a conversation directory, "/net/udp/1234" (NETPATHLEN) */
    DEVIP_ADDRLEN = 128, /* room for a local or remote address, "2001:2::1!65535" */
    DEVIP_ERRLEN = 256   /* the longest error text kept (ERRMAX) */
};

/* The local and remote addresses of a conversation, as its files read (ip3.md §2.3). */
typedef struct DevipConnInfo {
    char dir[DEVIP_DIRLEN];     /* "/net/udp/3" */
    char proto[DEVIP_DIRLEN];   /* "udp" */
    char local[DEVIP_ADDRLEN];  /* "198.18.0.1!7002", no newline */
    char remote[DEVIP_ADDRLEN]; /* "198.18.0.2!40000" */
} DevipConnInfo;

/* Connects to devipd's 9P socket (NULL: $DEVIP_SOCKET, else /run/devip/net.sock) and
 * attaches stack (-1: $DEVIP_STACK, else 0). Replaces an earlier connection only when no
 * conversation uses it. 0 or -1. */
DEVIP_API int devip_connect(const char *socket, int stack);

/* The calling thread's last error text ("" if none). */
DEVIP_API const char *devip_errstr(void);

/* netmkaddr(2): completes addr to net!host!service. "host" becomes defnet!host!defsvc,
 * "net!host" gets !defsvc, an addr starting with '/' or already in three parts is kept.
 * defnet NULL means "net" and defsvc NULL means none. The result is in a per-thread
 * buffer valid until the next call. */
DEVIP_API const char *devip_netmkaddr(const char *addr, const char *defnet,
                                      const char *defsvc);

/* dial(2): connects to addr ("udp!198.18.0.2!7001"; "net" is taken as tcp), from local
 * if not NULL ("connect ADDR LOCAL"). Returns the data fd. dir (DEVIP_DIRLEN bytes, may be
 * NULL) gets the conversation's directory; cfdp (may be NULL) a ctl handle. */
DEVIP_API int devip_dial(const char *addr, const char *local, char *dir, int *cfdp);

/* announce(2): announces addr ("udp!*!7002"). Returns a ctl handle; dir gets the
 * announced conversation's directory. */
DEVIP_API int devip_announce(const char *addr, char *dir);

/* listen(2): waits (parks in the server) for a call to the announcement in dir. Returns
 * the call's ctl handle; newdir gets its directory. Any number of threads may listen. */
DEVIP_API int devip_listen(const char *dir, char *newdir);

/* accept(2): opens the call's data and returns its fd (as devip_dial's). Like libc's, it
 * also writes `accept N` to the ctl, whose failure (no protocol implements it) is ignored. */
DEVIP_API int devip_accept(int ctl, const char *dir);

/* reject(2): writes `reject N CAUSE` to the ctl; fails with the protocol's error (no
 * protocol implements it, ip3.md §1.5) and then hangs the call up. Releases the handle. */
DEVIP_API int devip_reject(int ctl, const char *dir, const char *cause);

/* Writes `hangup` to the ctl (udp, tcp: ends the conversation's I/O). */
DEVIP_API int devip_hangup(int ctl);

/* Writes one control message to the ctl ("ttl 5", "headers"). */
DEVIP_API int devip_ctl(int ctl, const char *msg);

/* Releases a ctl handle (clunks its ctl file). */
DEVIP_API int devip_closectl(int ctl);

/* getnetconninfo(2): reads dir's local and remote files into ci. 0 or -1. */
DEVIP_API int devip_conninfo(const char *dir, DevipConnInfo *ci);

/* How the connection on data fd fd ended: 1 with the error text in err (n bytes) when its
 * data read or write failed, 0 while it runs or after a clean end of file, -1 when fd is
 * not a connection of the library's. */
DEVIP_API int devip_fderr(int fd, char *err, size_t n);

/* Ends the connection on data fd fd: shuts it both ways (copies of fd elsewhere, e.g. in a
 * child, lose it too), waits until everything written to it has been written to the
 * conversation's data file, closes it, and waits until the library has released the data
 * file (a plain close(2) may leave the last writes unsent if the process exits at once).
 * -1 with the error when one of those writes failed. */
DEVIP_API int devip_close(int fd);

/* Flushes (Tflush) every request the library has outstanding, e.g. a listen parked in
 * another thread, from a signal-handling thread: that listen fails with "interrupted", and
 * every connection's data ends. */
DEVIP_API void devip_interrupt(void);

#ifdef __cplusplus
}
#endif

#endif /* DEVIP_DIAL_H */

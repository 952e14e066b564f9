// The 9P2000 server: UNIX-socket listener, one session per connection, fid and tag
// tables, parked requests and Tflush. It drives an Fsys and knows nothing of /net.
// Single-threaded: every method runs on the control thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/fcall.h"
#include "control/fsys.h"
#include "proto/err.h"

namespace devip::ctl {

inline constexpr uint32_t kMaxMsize = 65536 + kIoHdrSize;  // 64 KiB of data per read/write
inline constexpr uint32_t kMinMsize = 256;                 // smaller Tversion msize is refused
inline constexpr size_t kOutThrottle = 1 << 20;  // stop reading a client with this much unsent
inline constexpr size_t kOutMax = 8 << 20;       // drop a client with this much unsent
inline constexpr size_t kMaxFdsIn = 16;  // descriptors received and not yet used, per client

class Server {
public:
    explicit Server(Fsys& fs);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Creates the parent directory, replaces a stale socket (one nobody answers on),
    // binds, makes the socket 0666 and listens. Nonblocking.
    proto::Err listen(const std::string& path);
    // One epoll_wait round of at most timeout_ms; serves all ready I/O, then retry_parked().
    int poll(int timeout_ms);  // returns how many descriptors were ready
    // Re-runs every parked open/read (the stack changed) and answers those that complete.
    void retry_parked();
    // Closes every client (cancelling parked requests, clunking fids), then the socket.
    void shutdown();

    size_t clients() const { return conns_.size(); }
    size_t parked() const { return parked_.size(); }
    size_t splices() const { return splices_.size(); }
    int epoll_fd() const { return ep_; }  // for a caller that nests this loop in its own

    // Other descriptors served by this loop (the metrics endpoint): fn(events) runs in poll()
    // when epoll reports events (EPOLLIN, EPOLLOUT, ...) on fd. fn may watch, rewatch or
    // unwatch any fd, itself included. unwatch before closing fd. False: epoll refused.
    bool watch(int fd, uint32_t events, std::function<void(uint32_t)> fn);
    bool rewatch(int fd, uint32_t events);
    void unwatch(int fd);

private:
    struct Conn;
    struct Parked;
    struct Splice;

    void accept_all();
    void on_event(uint64_t id, uint32_t events);
    void read_input(Conn& c);
    void serve_input(Conn& c);
    void flush_output(Conn& c);
    void update_events(Conn& c);
    void drop(Conn& c);
    void reap();

    void dispatch(Conn& c, const Fcall& t);
    void version(Conn& c, const Fcall& t);
    void attach(Conn& c, const Fcall& t);
    void flush(Conn& c, const Fcall& t);
    void walk(Conn& c, const Fcall& t);
    void open(Conn& c, const Fcall& t);
    void read(Conn& c, const Fcall& t);
    void write(Conn& c, const Fcall& t);
    void clunk(Conn& c, const Fcall& t, bool remove);
    void stat(Conn& c, const Fcall& t);
    void wstat(Conn& c, const Fcall& t);

    bool run_parked(Parked& p);
    void park(Parked p);
    std::list<Parked>::iterator unpark(std::list<Parked>::iterator it);
    void run_key(WaitKey k);
    bool finish_open(Conn& c, uint16_t tag, Fid& f, uint8_t mode, Answer a);
    bool finish_read(Conn& c, uint16_t tag, Answer a, const std::string& out, uint32_t count);
    bool finish_write(Conn& c, uint16_t tag, Answer a, uint32_t n, size_t len);
    void read_dir(Conn& c, uint16_t tag, Fid& f, uint64_t off, uint32_t count);
    void cancel_parked(Conn& c, uint32_t fid, bool answer);
    bool is_parked(const Conn& c, uint16_t tag) const;
    bool is_opening(const Conn& c, uint32_t fid) const;
    void reset_session(Conn& c);
    void reply(Conn& c, Fcall& r);
    void error(Conn& c, uint16_t tag, Err e);

    // Tsplice (srv_splice.cc): the server copies between a client's UNIX socket and a fid.
    void splice(Conn& c, const Fcall& t);
    Splice* spliced(const Conn& c, uint32_t fid) const;
    void splice_wait(Conn& c, Splice& s, const Fcall& t);
    bool splice_flush(Conn& c, uint16_t oldtag);
    void splice_event(uint64_t id, uint32_t events);
    void splice_pump(Splice& s);
    bool splice_run(Parked& p);
    bool splice_read_done(Splice& s, Answer a, std::string& out);
    bool splice_write_done(Splice& s, Answer a, uint32_t n);
    bool splice_send(Splice& s);
    void splice_stop_reads(Splice& s);
    void splice_cancelled(Parked& p);
    void splice_check_end(Splice& s);
    void splice_answer(Splice& s, bool whole);
    void splice_watch(Splice& s);
    void splice_abort(Splice& s);
    void unsplice(Conn& c, uint32_t fid);
    void unsplice_all(Conn& c);
    void drop_splice(Conn& c, Splice& s);
    void run_kicks();

    Fsys& fs_;                                               // the file tree we serve
    int ep_ = -1;                                            // epoll instance
    int lfd_ = -1;                                           // listening socket, -1 if none
    bool accept_paused_ = false;  // out of descriptors: listener out of epoll, retried per poll
    std::string path_;                                       // its path, unlinked at shutdown
    uint64_t next_id_ = 1;                                   // connection ids (0: listener)
    std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;  // live connections by id
    std::list<Parked> parked_;                 // waiting opens/reads/writes, oldest first
    std::unordered_map<WaitKey, std::vector<std::list<Parked>::iterator>> bykey_;  // oldest first
    std::vector<WaitKey> ready_;               // scratch: keys the tree says changed
    std::unordered_map<uint64_t, std::unique_ptr<Splice>> splices_;  // by id
    uint64_t next_splice_ = 1;                 // splice ids (0: none)
    std::vector<uint64_t> kicks_;              // splices whose parked I/O completed this round
    struct Watch {
        uint64_t key;                                        // epoll key: kWatchBit|gen|fd
        std::function<void(uint32_t)> fn;                    // the owner's handler
    };
    std::unordered_map<int, Watch> watches_;                 // watch()ed fds
    uint32_t watch_gen_ = 0;  // in the key, so a stale event for a reused fd is ignored
};

}  // namespace devip::ctl

// Packet capture: filters and copies on the workers, pcapng on the control thread
// (capture.h). The pcapng blocks are DPDK's (rte_pcapng, 22.11): the section header and
// one interface block per port when a capture starts, an enhanced packet block per copy
// (interface, direction and queue recorded), an interface statistics block at the end.
// rte_pcapng writes to a file descriptor; ours is a memfd per capture, used as a byte
// queue: reads take from its front (pread at rd), consumed pages are punched out.
#include "dataplane/capture.h"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <rte_bpf.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pcapng.h>
#include <rte_ring.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace devip::dp {

using proto::Err;
using proto::err_text;

Capture* g_capture = nullptr;
std::atomic<bool> g_capture_on{false};

namespace {

constexpr unsigned kMetaPriv = (sizeof(CapMeta) + 7) & ~7u;
constexpr unsigned kPoolCache = 64;
constexpr unsigned kPngPool = 512;        // control thread: blocks built per drain round
constexpr unsigned kDrainBurst = 64;
constexpr uint64_t kPunchEvery = 1 << 20; // give consumed memfd pages back this often
constexpr size_t kEpbOrigLen = 24;        // enhanced packet block: original length field

CapMeta& meta(rte_mbuf* m) { return *static_cast<CapMeta*>(rte_mbuf_to_priv(m)); }

uint64_t realtime_ns() {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

}  // namespace

// ---- filters ----------------------------------------------------------------------------

Err capture_compile(std::string_view expr, uint32_t snaplen, CapFilter& f) {
    CapFilter n;
    n.text = std::string(expr);
    if (expr.find_first_not_of(" \t\n") == std::string_view::npos) {
        capture_free(f);
        f = std::move(n);
        f.text.clear();
        return proto::ok;
    }
    pcap_t* p = pcap_open_dead(DLT_EN10MB, int(snaplen));
    if (!p) return Err{"bad filter: libpcap cannot start"};
    bpf_program prog{};
    if (pcap_compile(p, &prog, n.text.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        Err e = err_text("bad filter: %s", pcap_geterr(p));
        pcap_close(p);
        return e;
    }
    pcap_close(p);
    rte_bpf_prm* prm = rte_bpf_convert(&prog);
    pcap_freecode(&prog);
    if (!prm) return err_text("bad filter: cannot convert it to eBPF: %s", rte_strerror(rte_errno));
    n.bpf = rte_bpf_load(prm);
    rte_free(prm);
    if (!n.bpf) return err_text("bad filter: rte_bpf refused it: %s", rte_strerror(rte_errno));
    rte_bpf_jit jit{};
    if (rte_bpf_get_jit(n.bpf, &jit) == 0) n.jit = jit.func;
    capture_free(f);
    f = std::move(n);
    return proto::ok;
}

void capture_free(CapFilter& f) {
    if (f.bpf) rte_bpf_destroy(f.bpf);
    f.bpf = nullptr;
    f.jit = nullptr;
}

void capture_match(const rte_bpf* bpf, uint64_t (*jit)(void*), rte_mbuf* const* m, uint16_t n,
                   uint8_t* match) {
    if (!bpf) {
        std::memset(match, 1, n);
        return;
    }
    if (jit) {
        for (uint16_t i = 0; i < n; i++) match[i] = jit(m[i]) != 0;
        return;
    }
    uint64_t rc[kDrainBurst];
    rte_bpf_exec_burst(bpf, reinterpret_cast<void**>(const_cast<rte_mbuf**>(m)), rc, n);
    for (uint16_t i = 0; i < n; i++) match[i] = rc[i] != 0;
}

// ---- setup ------------------------------------------------------------------------------

Err Capture::init(int nworkers, std::function<void(std::function<void()>)> retire) {
    nworkers_ = nworkers;
    retire_ = std::move(retire);
    ctr_.resize(size_t(nworkers));
    for (int w = 0; w < nworkers; w++) {
        char name[32];
        snprintf(name, sizeof name, "devip_cap%d", w);
        rte_ring* r = rte_ring_create(name, kCaptureRing, int(rte_socket_id()),
                                      RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!r) return err_text("cannot create capture ring: %s", rte_strerror(rte_errno));
        rings_.push_back(r);
    }
    for (auto& s : slots_) {
        s.base_copied.assign(size_t(nworkers), 0);
        s.base_dropped.assign(size_t(nworkers), 0);
        s.ctl_dropped.assign(size_t(nworkers), 0);
    }
    g_capture = this;
    return proto::ok;
}

Err Capture::make_pools() {
    if (pool_) return proto::ok;
    uint16_t room = uint16_t(rte_pcapng_mbuf_size(kCaptureSnapMax));
    unsigned n = unsigned(nworkers_) * (kCaptureRing + kPoolCache) + 1024;
    pool_ = rte_pktmbuf_pool_create("devip_capture", n, kPoolCache, uint16_t(kMetaPriv), room,
                                    int(rte_socket_id()));
    if (!pool_) return err_text("cannot create the capture pool: %s", rte_strerror(rte_errno));
    png_pool_ = rte_pktmbuf_pool_create("devip_capture_png", kPngPool, 0, 0, room,
                                        int(rte_socket_id()));
    if (!png_pool_) return err_text("cannot create the pcapng pool: %s", rte_strerror(rte_errno));
    return proto::ok;
}

Capture::~Capture() {
    if (g_capture == this) g_capture = nullptr;
    g_capture_on.store(false);
    for (auto* r : rings_) {
        void* m;
        while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
        rte_ring_free(r);
    }
    for (auto& s : slots_) {
        capture_free(s.f);
        if (s.png) rte_pcapng_close(s.png);  // closes the memfd too
        else if (s.fd >= 0) ::close(s.fd);
    }
    delete rt_.exchange(nullptr);
    rte_mempool_free(pool_);
    rte_mempool_free(png_pool_);
}

// ---- control thread ---------------------------------------------------------------------

proto::Result<int> Capture::open(uint16_t port) {
    for (int i = 0; i < kMaxCaptures; i++) {
        Slot& s = slots_[i];
        if (s.used) continue;
        if (Err e = make_pools()) return e;
        s.used = true;
        s.live = s.stopping = s.ended = false;
        s.gen = next_gen_++;
        s.port = port;
        s.snap = kCaptureSnapMax;
        s.rd = s.wr = s.punched = s.written = 0;
        std::fill(s.ctl_dropped.begin(), s.ctl_dropped.end(), 0);
        return i;
    }
    return proto::Enodev;
}

Err Capture::filter(int id, std::string_view expr) {
    Slot& s = slots_[id];
    CapFilter old = s.f;  // the workers may be running it: freed after a grace period
    CapFilter n;
    if (Err e = capture_compile(expr, kCaptureSnapMax, n)) return e;
    s.f = n;
    if (s.live) {
        publish();
        if (old.bpf) retire_([old]() mutable { capture_free(old); });
    } else {
        capture_free(old);
    }
    return proto::ok;
}

Err Capture::snaplen(int id, uint32_t n) {
    slots_[id].snap = n == 0 || n > kCaptureSnapMax ? kCaptureSnapMax : n;
    if (slots_[id].live) publish();
    return proto::ok;
}

Err Capture::start(int id, const std::string& comment) {
    Slot& s = slots_[id];
    if (s.png || s.ended) return proto::ok;
    s.fd = memfd_create("devip-capture", MFD_CLOEXEC);
    if (s.fd < 0) return err_text("capture: memfd: %s", strerror(errno));
    s.png = rte_pcapng_fdopen(s.fd, nullptr, nullptr, "devipd", comment.c_str());
    if (!s.png) {
        ::close(s.fd);
        s.fd = -1;
        return err_text("capture: pcapng: %s", rte_strerror(rte_errno));
    }
    off_t end = lseek(s.fd, 0, SEEK_CUR);  // the section and interface blocks
    s.wr = end > 0 ? uint64_t(end) : 0;
    for (int w = 0; w < nworkers_; w++) {
        s.base_copied[size_t(w)] = ctr_[size_t(w)].copied[id];
        s.base_dropped[size_t(w)] = ctr_[size_t(w)].dropped[id];
    }
    s.start_ns = realtime_ns();
    s.live = true;
    publish();
    return proto::ok;
}

bool Capture::running(int id) const { return slots_[id].png != nullptr; }

void Capture::publish() {
    auto* rt = new CapRt{};
    for (int i = 0; i < kMaxCaptures; i++) {
        const Slot& s = slots_[i];
        if (!s.used || !s.live) continue;
        rt->s[rt->n++] = {s.f.bpf, s.f.jit, s.snap, s.gen, s.port, uint8_t(i)};
    }
    const CapRt* old = rt_.exchange(rt, std::memory_order_acq_rel);
    g_capture_on.store(rt->n > 0, std::memory_order_relaxed);
    if (old) retire_([old] { delete old; });
}

void Capture::stop(int id) {
    Slot& s = slots_[id];
    if (!s.png) s.ended = true;  // before the first read: nothing will ever come
    if (!s.png || s.stopping) return;
    s.stopping = true;
    s.live = false;
    publish();
    uint32_t gen = s.gen;
    // every copy a worker made for it is on a ring once the grace period is over
    retire_([this, id, gen] {
        if (slots_[id].used && slots_[id].gen == gen) finish(id);
    });
}

void Capture::finish(int id) {
    drain([](const void*) {});
    Slot& s = slots_[id];
    if (s.ended || !s.png) return;
    uint64_t captured, dropped;
    std::string per;
    totals(id, captured, dropped, per);
    char comment[256];
    snprintf(comment, sizeof comment, "%lu packets captured, %lu dropped (%s)", captured, dropped,
             per.c_str());
    ssize_t n = rte_pcapng_write_stats(s.png, s.port, comment, s.start_ns, realtime_ns(),
                                       captured + dropped, dropped);
    if (n > 0) s.wr += uint64_t(n);
    s.ended = true;
    kicked_.push_back(key(id));
}

void Capture::close(int id) {
    Slot& s = slots_[id];
    if (!s.used) return;
    bool was_live = s.live;
    s.live = false;
    s.stopping = true;
    if (was_live) publish();
    uint32_t gen = s.gen;
    retire_([this, id, gen] {
        Slot& x = slots_[id];
        if (!x.used || x.gen != gen) return;
        capture_free(x.f);
        x.f.text.clear();
        if (x.png) rte_pcapng_close(x.png);
        else if (x.fd >= 0) ::close(x.fd);
        x.png = nullptr;
        x.fd = -1;
        x.used = false;
    });
}

uint64_t Capture::buffered(const Slot& s) const { return s.wr - s.rd; }

Capture::R Capture::read(int id, uint32_t count, std::string& out) {
    Slot& s = slots_[id];
    out.clear();
    uint64_t avail = buffered(s);
    if (avail == 0) return s.ended || !s.png ? R::End : R::Wait;
    out.resize(std::min<uint64_t>(avail, count));
    ssize_t n = pread(s.fd, out.data(), out.size(), off_t(s.rd));
    if (n <= 0) {
        out.clear();
        return R::Wait;
    }
    out.resize(size_t(n));
    s.rd += uint64_t(n);
    if (s.rd - s.punched >= kPunchEvery) {
        uint64_t to = s.rd & ~uint64_t(4095);
        if (fallocate(s.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off_t(s.punched),
                      off_t(to - s.punched)) == 0)
            s.punched = to;
    }
    return R::Data;
}

size_t Capture::drain(const std::function<void(const void*)>& kick) {
    size_t total = 0;
    bool got[kMaxCaptures] = {};
    rte_mbuf* ms[kDrainBurst];
    for (int w = 0; w < nworkers_; w++) {
        unsigned n;
        while ((n = rte_ring_dequeue_burst(rings_[size_t(w)], reinterpret_cast<void**>(ms),
                                           kDrainBurst, nullptr)) > 0) {
            total += n;
            rte_mbuf* blk[kMaxCaptures][kDrainBurst];
            uint16_t nblk[kMaxCaptures] = {};
            for (unsigned i = 0; i < n; i++) {
                const CapMeta& c = meta(ms[i]);
                Slot* s = c.slot < kMaxCaptures ? &slots_[c.slot] : nullptr;
                bool take = s && s->used && s->gen == c.gen && s->png && !s->ended;
                rte_mbuf* b = nullptr;
                if (take && buffered(*s) + ms[i]->pkt_len + 64 > kCaptureBuffered) {
                    s->ctl_dropped[size_t(w)]++;  // the reader is slow: drop from the capture
                } else if (take) {
                    b = rte_pcapng_copy(c.port, c.queue, ms[i], png_pool_, UINT32_MAX, c.tsc,
                                        rte_pcapng_direction(c.dir));
                    if (!b) s->ctl_dropped[size_t(w)]++;
                }
                if (b) {  // rte_pcapng_copy records the copy's length: put the packet's back
                    uint32_t len = c.len;
                    std::memcpy(rte_pktmbuf_mtod(b, uint8_t*) + kEpbOrigLen, &len, 4);
                    blk[c.slot][nblk[c.slot]++] = b;
                }
                rte_pktmbuf_free(ms[i]);
            }
            for (int k = 0; k < kMaxCaptures; k++) {
                if (!nblk[k]) continue;
                ssize_t wrote = rte_pcapng_write_packets(slots_[k].png, blk[k], nblk[k]);
                if (wrote > 0) {
                    slots_[k].wr += uint64_t(wrote);
                    slots_[k].written += nblk[k];
                    got[k] = true;
                } else {
                    slots_[k].ctl_dropped[size_t(w)] += nblk[k];
                }
                rte_pktmbuf_free_bulk(blk[k], nblk[k]);
            }
        }
    }
    for (int k = 0; k < kMaxCaptures; k++)
        if (got[k]) kick(key(k));
    for (const void* k : kicked_) kick(k);
    kicked_.clear();
    return total;
}

void Capture::worker_counts(const Slot& s, int id, std::vector<uint64_t>& copied,
                            std::vector<uint64_t>& dropped) const {
    copied.assign(size_t(nworkers_), 0);
    dropped.assign(size_t(nworkers_), 0);
    for (int w = 0; w < nworkers_; w++) {
        copied[size_t(w)] = ctr_[size_t(w)].copied[id] - s.base_copied[size_t(w)];
        dropped[size_t(w)] = ctr_[size_t(w)].dropped[id] - s.base_dropped[size_t(w)] +
                             s.ctl_dropped[size_t(w)];
    }
}

void Capture::totals(int id, uint64_t& captured, uint64_t& dropped, std::string& per) const {
    const Slot& s = slots_[id];
    std::vector<uint64_t> c, d;
    worker_counts(s, id, c, d);
    captured = s.written;
    dropped = 0;
    per.clear();
    for (int w = 0; w < nworkers_; w++) {
        dropped += d[size_t(w)];
        char b[48];
        snprintf(b, sizeof b, "%sworker%d %lu", w ? ", " : "", w, d[size_t(w)]);
        per += b;
    }
}

void Capture::stats_text(uint16_t port, std::string& out) const {
    for (int i = 0; i < kMaxCaptures; i++) {
        const Slot& s = slots_[i];
        if (!s.used || s.port != port || !s.png) continue;
        uint64_t captured, dropped;
        std::string per;
        totals(i, captured, dropped, per);
        char b[512];
        snprintf(b, sizeof b,
                 "capture%d: %s snaplen %u filter '%s' captured %lu dropped %lu (%s)\n",
                 i, s.ended ? "ended" : s.stopping ? "stopping" : "running", s.snap,
                 s.f.text.c_str(), captured, dropped, per.c_str());
        out += b;
    }
}

// ---- workers ----------------------------------------------------------------------------

void Capture::put(unsigned w, uint8_t slot, rte_mbuf** out, unsigned n) {
    CapCounters& c = ctr_[w];
    unsigned sent = rte_ring_enqueue_burst(rings_[w], reinterpret_cast<void**>(out), n, nullptr);
    c.copied[slot] += sent;
    if (sent < n) {
        c.dropped[slot] += n - sent;
        rte_pktmbuf_free_bulk(out + sent, n - sent);
    }
}

// For each live capture of the port: filter, copy (snaplen bytes, from the capture pool),
// then one enqueue per burst. Nothing here waits: an empty pool or a full ring drops.
void Capture::burst(unsigned w, uint16_t port, rte_mbuf* const* m, uint16_t n, CapDir d) {
    const CapRt* rt = rt_.load(std::memory_order_acquire);
    if (!rt || w >= unsigned(nworkers_)) return;
    uint64_t tsc = 0;
    for (uint8_t k = 0; k < rt->n; k++) {
        const CapSlotRt& s = rt->s[k];
        if (s.port != port) continue;
        if (!tsc) tsc = rte_get_tsc_cycles();
        for (uint16_t at = 0; at < n; at += kDrainBurst)
            copy(w, s, m + at, std::min<uint16_t>(n - at, kDrainBurst), d, tsc);
    }
}

void Capture::copy(unsigned w, const CapSlotRt& s, rte_mbuf* const* m, uint16_t n, CapDir d,
                   uint64_t tsc) {
    uint8_t match[kDrainBurst];
    capture_match(s.bpf, s.jit, m, n, match);
    rte_mbuf* out[kDrainBurst];
    unsigned nout = 0;
    for (uint16_t i = 0; i < n; i++) {
        if (!match[i]) continue;
        rte_mbuf* mc = rte_pktmbuf_copy(m[i], pool_, 0, s.snaplen);
        if (!mc) {
            ctr_[w].dropped[s.slot]++;
            continue;
        }
        meta(mc) = {tsc, m[i]->pkt_len, s.gen, s.port, uint16_t(w), uint8_t(d), s.slot};
        out[nout++] = mc;
    }
    if (nout) put(w, s.slot, out, nout);
}

}  // namespace devip::dp

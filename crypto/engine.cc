// ESP bursts through ipsec-mb's job API: get a job, fill it, submit; completed jobs come
// back in submission order (from submit, get_completed or flush) and are finished there.
#include "crypto/engine.h"

#include <sys/random.h>

#include <cstring>
#include <new>

namespace devip::crypto {

namespace {

void put32(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 24), p[1] = uint8_t(v >> 16), p[2] = uint8_t(v >> 8), p[3] = uint8_t(v);
}
uint32_t get32(const uint8_t* p) {
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

bool same(const uint8_t* a, const uint8_t* b, uint32_t n) {  // constant time
    uint8_t d = 0;
    for (uint32_t i = 0; i < n; i++) d |= a[i] ^ b[i];
    return d == 0;
}

void fill_random(uint8_t* p, size_t n) {
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r <= 0) continue;  // EINTR; the pool is initialised long before a worker runs
        p += r, n -= size_t(r);
    }
}

// The ICV of a non-AEAD ESN SA covers the high sequence bits after the trailer
// (RFC 4303 §2.2.1): they sit where the ICV goes while the hash runs.
bool esn_tail(const SaRt& sa) {
    return sa.esn && !sa.cipher->aead() && sa.auth->hash != IMB_AUTH_NULL;
}

}  // namespace

Engine::Engine() {
    mgr_ = alloc_mb_mgr(0);
    if (!mgr_) throw std::bad_alloc();
    init_mb_mgr_auto(mgr_, &arch_);
}

Engine::~Engine() {
    free_mb_mgr(mgr_);
    explicit_bzero(slot_, sizeof slot_);
    explicit_bzero(&gctx_, sizeof gctx_);
}

const char* Engine::arch() const {
    switch (arch_) {
    case IMB_ARCH_SSE: return "sse";
    case IMB_ARCH_AVX: return "avx";
    case IMB_ARCH_AVX2: return "avx2";
    case IMB_ARCH_AVX512: return "avx512";
    case IMB_ARCH_NOAESNI: return "no-aesni";
    default: return "unknown";
    }
}

void Engine::setup(SaRt& sa, IMB_JOB* j, Pkt& p, Slot& s, bool enc) {
    const CipherAlg& c = *sa.cipher;
    const AuthAlg& a = *sa.auth;
    uint8_t* b = p.buf.data();
    uint32_t h = sa.hdrlen();
    j->src = b;
    j->dst = b + h;  // ipsec-mb: src is offset by cipher_start, dst is not
    j->cipher_start_src_offset_in_bytes = h;
    j->msg_len_to_cipher_in_bytes = s.textend - h;
    j->hash_start_src_offset_in_bytes = 0;
    j->msg_len_to_hash_in_bytes = s.textend;
    j->cipher_direction = enc ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
    j->chain_order = enc ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
    j->cipher_mode = c.mode;
    j->key_len_in_bytes = c.keylen;
    j->iv = s.iv;
    j->iv_len_in_bytes = 12;
    j->auth_tag_output = enc && !esn_tail(sa) ? b + s.textend : s.tag;
    j->auth_tag_output_len_in_bytes = sa.icvlen;
    j->hash_alg = c.aead() ? c.aead_hash : a.hash;
    uint32_t aadlen = sa.esn ? 12 : 8;
    switch (c.kind) {
    case Kind::null:
        j->key_len_in_bytes = 0;
        j->iv = nullptr;
        j->iv_len_in_bytes = 0;
        break;
    case Kind::cbc:
        j->iv = b + 8;
        j->iv_len_in_bytes = c.ivlen;
        if (c.mode == IMB_CIPHER_DES) {
            j->enc_keys = j->dec_keys = sa.des_ks[0];
        } else if (c.mode == IMB_CIPHER_DES3) {
            j->enc_keys = j->dec_keys = sa.des3_ks;
        } else {
            j->enc_keys = sa.enc_keys;
            j->dec_keys = sa.dec_keys;
        }
        break;
    case Kind::ctr:
        j->enc_keys = j->dec_keys = sa.enc_keys;
        break;
    case Kind::gcm:
        j->enc_keys = j->dec_keys = &sa.gcm;
        j->hash_start_src_offset_in_bytes = h;
        j->msg_len_to_hash_in_bytes = s.textend - h;
        j->u.GCM.aad = s.aad;
        j->u.GCM.aad_len_in_bytes = aadlen;
        break;
    case Kind::chacha:
        j->enc_keys = j->dec_keys = sa.enc_keys;
        j->hash_start_src_offset_in_bytes = h;
        j->msg_len_to_hash_in_bytes = s.textend - h;
        j->u.CHACHA20_POLY1305.aad = s.aad;
        j->u.CHACHA20_POLY1305.aad_len_in_bytes = aadlen;
        break;
    }
    if (!c.aead()) {
        if (a.blocklen) {
            j->u.HMAC._hashed_auth_key_xor_ipad = sa.ipad;
            j->u.HMAC._hashed_auth_key_xor_opad = sa.opad;
        } else if (a.hash == IMB_AUTH_AES_XCBC) {
            j->u.XCBC._k1_expanded = sa.xcbc_k1;
            j->u.XCBC._k2 = sa.xcbc_k2;
            j->u.XCBC._k3 = sa.xcbc_k3;
        }
        if (esn_tail(sa)) j->msg_len_to_hash_in_bytes += 4;
    }
    j->user_data = &p;
    j->user_data2 = &s;
}

// Fill the AAD (RFC 4106 §5, RFC 7634 §2.1) and the nonce (salt, IV).
static void aad_iv(const SaRt& sa, uint8_t* aad, uint8_t* iv, const uint8_t* b, uint64_t seq) {
    put32(aad, sa.spi);
    if (sa.esn) {
        put32(aad + 4, uint32_t(seq >> 32));
        put32(aad + 8, uint32_t(seq));
    } else {
        put32(aad + 4, uint32_t(seq));
    }
    std::memcpy(iv, sa.salt, 4);
    if (sa.ivlen >= 8) std::memcpy(iv + 4, b + 8, 8);  // the null cipher has no IV at all
}

// AES-GCM through ipsec-mb's direct API, in place: one call per packet.
void Engine::gcm(SaRt& sa, uint8_t* text, uint32_t len, Slot& s, uint8_t* tag, bool enc) {
    uint32_t aadlen = sa.esn ? 12 : 8;
    bool k128 = sa.cipher->keylen == 16;
    if (enc && k128)
        IMB_AES128_GCM_ENC(mgr_, &sa.gcm, &gctx_, text, text, len, s.iv, s.aad, aadlen, tag, 16);
    else if (enc)
        IMB_AES256_GCM_ENC(mgr_, &sa.gcm, &gctx_, text, text, len, s.iv, s.aad, aadlen, tag, 16);
    else if (k128)
        IMB_AES128_GCM_DEC(mgr_, &sa.gcm, &gctx_, text, text, len, s.iv, s.aad, aadlen, tag, 16);
    else
        IMB_AES256_GCM_DEC(mgr_, &sa.gcm, &gctx_, text, text, len, s.iv, s.aad, aadlen, tag, 16);
}

uint32_t Engine::enc_burst(SaRt& sa, std::span<Pkt> pkts) {
    const CipherAlg& c = *sa.cipher;
    uint32_t n = uint32_t(pkts.size()), h = sa.hdrlen(), good = 0;
    uint64_t first = sa.reserve(n);
    if (c.kind == Kind::cbc) fill_random(rand_, size_t(n) * c.ivlen);
    auto finish = [&](IMB_JOB* j) {
        Pkt& p = *static_cast<Pkt*>(j->user_data);
        Slot& s = *static_cast<Slot*>(j->user_data2);
        if (j->status != IMB_STATUS_COMPLETED) {
            p.st = Status::fail;
            return;
        }
        if (esn_tail(sa)) std::memcpy(p.buf.data() + s.textend, s.tag, sa.icvlen);
        p.len = s.textend + sa.icvlen;
        p.st = Status::ok;
        good++;
    };
    for (uint32_t i = 0; i < n; i++) {
        Pkt& p = pkts[i];
        Slot& s = slot_[i];
        p.seq = first + i;
        if (!sa.esn && p.seq > UINT32_MAX) {
            p.st = Status::seqover;
            continue;
        }
        uint32_t text = (p.len + 2 + sa.align - 1) / sa.align * sa.align;
        uint32_t pad = text - p.len - 2;
        if (size_t(h) + text + sa.icvlen > p.buf.size()) {
            p.st = Status::len;
            continue;
        }
        uint8_t* b = p.buf.data();
        put32(b, sa.spi);
        put32(b + 4, uint32_t(p.seq));
        if (c.kind == Kind::cbc) {
            std::memcpy(b + 8, rand_ + i * c.ivlen, c.ivlen);
        } else if (c.ivlen == 8) {
            put32(b + 8, uint32_t(p.seq >> 32));
            put32(b + 12, uint32_t(p.seq));
        }
        uint8_t* t = b + h + p.len;
        for (uint32_t k = 0; k < pad; k++) t[k] = uint8_t(k + 1);
        t[pad] = uint8_t(pad);
        t[pad + 1] = p.next;
        s.textend = h + text;
        aad_iv(sa, s.aad, s.iv, b, p.seq);
        if (esn_tail(sa)) put32(b + s.textend, uint32_t(p.seq >> 32));
        if (c.kind == Kind::gcm) {  // the direct API measures faster than jobs for GCM
            gcm(sa, b + h, text, s, b + s.textend, true);
            p.len = s.textend + sa.icvlen;
            p.st = Status::ok;
            good++;
            continue;
        }
        IMB_JOB* j = IMB_GET_NEXT_JOB(mgr_);
        setup(sa, j, p, s, true);
        for (j = IMB_SUBMIT_JOB(mgr_); j; j = IMB_GET_COMPLETED_JOB(mgr_)) finish(j);
    }
    while (IMB_JOB* j = IMB_FLUSH_JOB(mgr_)) finish(j);
    return good;
}

uint32_t Engine::dec_burst(SaRt& sa, std::span<Pkt> pkts) {
    const CipherAlg& c = *sa.cipher;
    uint32_t n = uint32_t(pkts.size()), h = sa.hdrlen(), icv = sa.icvlen;
    bool tail = esn_tail(sa);
    auto opened = [&](Pkt& p, Slot& s) {
        uint8_t* b = p.buf.data();
        if (icv && !same(s.tag, tail ? s.rx : b + s.textend, icv)) {
            p.st = Status::icv;
            return;
        }
        uint32_t text = s.textend - h, pad = b[s.textend - 2];
        if (pad + 2 > text) {
            p.st = Status::pad;
            return;
        }
        const uint8_t* pp = b + s.textend - 2 - pad;
        for (uint32_t k = 0; sa.padcheck && k < pad; k++)
            if (pp[k] != k + 1) {
                p.st = Status::pad;
                return;
            }
        p.next = b[s.textend - 1];
        p.len = text - 2 - pad;
        p.st = Status::ok;
    };
    auto finish = [&](IMB_JOB* j) {
        Pkt& p = *static_cast<Pkt*>(j->user_data);
        Slot& s = *static_cast<Slot*>(j->user_data2);
        if (j->status != IMB_STATUS_COMPLETED) {
            p.st = Status::fail;
            return;
        }
        opened(p, s);
    };
    for (uint32_t i = 0; i < n; i++) {
        Pkt& p = pkts[i];
        Slot& s = slot_[i];
        uint8_t* b = p.buf.data();
        if (p.len > p.buf.size() || p.len < h + icv + 2 || (p.len - h - icv) % sa.align != 0 ||
            (c.kind == Kind::cbc && (p.len - h - icv) % c.block != 0)) {
            p.st = Status::len;
            continue;
        }
        if (get32(b) != sa.spi) {
            p.st = Status::spi;
            continue;
        }
        if (!sa.replay) {
            p.seq = get32(b + 4);  // no window (never with ESN): the number as sent
        } else if (!sa.win.check(get32(b + 4), p.seq)) {
            p.st = Status::replay;
            continue;
        }
        s.textend = p.len - icv;
        aad_iv(sa, s.aad, s.iv, b, p.seq);
        if (tail) {
            std::memcpy(s.rx, b + s.textend, icv);
            put32(b + s.textend, uint32_t(p.seq >> 32));
        }
        p.st = Status::fail;  // until finished
        if (c.kind == Kind::gcm) {
            gcm(sa, b + h, s.textend - h, s, s.tag, false);
            opened(p, s);
            continue;
        }
        IMB_JOB* j = IMB_GET_NEXT_JOB(mgr_);
        setup(sa, j, p, s, false);
        for (j = IMB_SUBMIT_JOB(mgr_); j; j = IMB_GET_COMPLETED_JOB(mgr_)) finish(j);
    }
    while (IMB_JOB* j = IMB_FLUSH_JOB(mgr_)) finish(j);
    // Only authenticated packets move the window, in arrival order.
    uint32_t good = 0;
    for (Pkt& p : pkts) {
        if (p.st != Status::ok) continue;
        if (sa.replay && !sa.win.update(p.seq)) p.st = Status::replay;
        else good++;
    }
    return good;
}

bool Engine::refused(SaRt& sa, std::span<Pkt> pkts) {
    if (!sa.expired.load(std::memory_order_relaxed)) return false;
    for (Pkt& p : pkts) p.st = Status::expired;
    sa.expired_drops.fetch_add(pkts.size(), std::memory_order_relaxed);
    return true;
}

// Packets and inner bytes (len[i], else the packet's length after decryption) of a pass
// that went through; the SA expires when a limit is reached.
void Engine::used(SaRt& sa, std::span<const Pkt> pkts, const uint32_t* len) {
    if (!(sa.life_pkts | sa.life_bytes)) return;
    uint64_t n = 0, b = 0;
    for (size_t i = 0; i < pkts.size(); i++)
        if (pkts[i].st == Status::ok) n++, b += len ? len[i] : pkts[i].len;
    if (!n) return;
    uint64_t tp = sa.used_pkts.fetch_add(n, std::memory_order_relaxed) + n;
    uint64_t tb = sa.used_bytes.fetch_add(b, std::memory_order_relaxed) + b;
    if (SaCfg::spent(sa.life_pkts, sa.life_bytes, tp, tb))
        sa.expired.store(true, std::memory_order_relaxed);
}

uint32_t Engine::encrypt(SaRt& sa, std::span<Pkt> pkts) {
    uint32_t good = 0;
    for (size_t i = 0; i < pkts.size(); i += kBurst) {
        std::span<Pkt> b = pkts.subspan(i, std::min<size_t>(kBurst, pkts.size() - i));
        if (refused(sa, b)) continue;
        if (!(sa.life_pkts | sa.life_bytes)) {
            good += enc_burst(sa, b);
            continue;
        }
        uint32_t len[kBurst];  // the payloads' lengths, before encryption makes them ESP's
        for (size_t k = 0; k < b.size(); k++) len[k] = b[k].len;
        good += enc_burst(sa, b);
        used(sa, b, len);
    }
    return good;
}

uint32_t Engine::decrypt(SaRt& sa, std::span<Pkt> pkts) {
    uint32_t good = 0;
    for (size_t i = 0; i < pkts.size(); i += kBurst) {
        std::span<Pkt> b = pkts.subspan(i, std::min<size_t>(kBurst, pkts.size() - i));
        if (refused(sa, b)) continue;
        good += dec_burst(sa, b);
        used(sa, b, nullptr);
    }
    return good;
}

}  // namespace devip::crypto

// SaCfg parsing and SaRt construction: key schedules, HMAC ipad/opad states and GCM hash
// subkeys are computed here once, on the control thread, never per packet.
#include "crypto/sa.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <new>

namespace devip::crypto {

Err SaCfg::set_esp(std::string_view alg, std::string_view hex) {
    const CipherAlg* c = find_cipher(alg);
    if (!c) return Eunknownalg;
    std::vector<uint8_t> k;
    if (Err e = parse_key(*c, hex, k)) return e;
    std::fill(ckey.begin(), ckey.end(), 0);
    cipher = c;
    ckey = std::move(k);
    return ok;
}

Err SaCfg::set_ah(std::string_view alg, std::string_view hex) {
    const AuthAlg* a = find_auth(alg);
    if (!a) return Eunknownalg;
    std::vector<uint8_t> k;
    if (Err e = parse_key(*a, hex, k)) return e;
    std::fill(akey.begin(), akey.end(), 0);
    auth = a;
    akey = std::move(k);
    return ok;
}

Err SaCfg::set_window(uint32_t w) {
    if (w < ReplayWindow::kMin || w > ReplayWindow::kMax) return Ewindow;
    window = w;
    return ok;
}

Err SaCfg::check() const {
    if (cipher->aead() && auth->hash != IMB_AUTH_NULL) return Eaeadah;
    if (!key_ok(*cipher, ckey.size()) || !key_ok(*auth, akey.size())) return Ekeylen;
    if (window < ReplayWindow::kMin || window > ReplayWindow::kMax) return Ewindow;
    return ok;
}

void SaCfg::wipe() {
    // an empty key (the null algorithms) may have no storage at all: nothing to wipe
    if (!ckey.empty()) explicit_bzero(ckey.data(), ckey.size());
    if (!akey.empty()) explicit_bzero(akey.data(), akey.size());
}

namespace {

size_t map_len() {
    size_t pg = size_t(sysconf(_SC_PAGESIZE));
    return (sizeof(SaRt) + pg - 1) / pg * pg;
}

// HMAC (RFC 2104): the inner and outer hash states after one block of key ^ pad.
void hmac_pads(IMB_MGR* m, const AuthAlg& a, const std::vector<uint8_t>& key, uint8_t* ipad,
               uint8_t* opad) {
    alignas(16) uint8_t blk[128];
    for (int pass = 0; pass < 2; pass++) {
        uint8_t x = pass == 0 ? 0x36 : 0x5c;
        uint8_t* out = pass == 0 ? ipad : opad;
        std::memset(blk, x, a.blocklen);
        for (size_t i = 0; i < key.size(); i++) blk[i] ^= key[i];
        switch (a.hash) {
        case IMB_AUTH_HMAC_SHA_1: IMB_SHA1_ONE_BLOCK(m, blk, out); break;
        case IMB_AUTH_MD5: IMB_MD5_ONE_BLOCK(m, blk, out); break;
        case IMB_AUTH_HMAC_SHA_256: IMB_SHA256_ONE_BLOCK(m, blk, out); break;
        case IMB_AUTH_HMAC_SHA_384: IMB_SHA384_ONE_BLOCK(m, blk, out); break;
        case IMB_AUTH_HMAC_SHA_512: IMB_SHA512_ONE_BLOCK(m, blk, out); break;
        default: break;
        }
    }
    explicit_bzero(blk, sizeof blk);
}

}  // namespace

SaRt::SaRt(const SaCfg& c)
    : cipher(c.cipher), auth(c.auth), spi(c.spi), dir(c.dir), esn(c.esn), padcheck(c.padcheck),
      replay(c.replay),
      ivlen(c.cipher->ivlen), align(uint8_t(c.cipher->align())),
      icvlen(c.cipher->aead() ? c.cipher->icvlen : c.auth->icvlen), salt{},
      seq(c.seq), life_pkts(c.life_pkts), life_bytes(c.life_bytes), used_pkts(c.used_pkts),
      used_bytes(c.used_bytes), expired_drops(0), expired(c.expired), win(c.window, c.esn) {
    win.start(c.dir == Dir::in ? c.seq : 0);
}

void SaRt::Free::operator()(SaRt* s) const {
    if (!s) return;
    s->~SaRt();
    explicit_bzero(static_cast<void*>(s), map_len());
    munmap(s, map_len());
}

SaRt::Ptr SaRt::make(const SaCfg& c, Err* err) {
    auto fail = [&](Err e) { if (err) *err = e; return Ptr(); };
    if (Err e = c.check()) return fail(e);
    void* mem = mmap(nullptr, map_len(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    if (mem == MAP_FAILED) return fail(Enomem);
    madvise(mem, map_len(), MADV_DONTDUMP);
    Ptr sa(new (mem) SaRt(c));

    IMB_MGR* m = alloc_mb_mgr(0);
    if (!m) return fail(Enomem);
    init_mb_mgr_auto(m, nullptr);
    const uint8_t* k = c.ckey.data();
    const CipherAlg& ca = *c.cipher;
    if (ca.saltlen) std::memcpy(sa->salt, k + ca.keylen, ca.saltlen);
    switch (ca.mode) {
    case IMB_CIPHER_CBC:
    case IMB_CIPHER_CNTR:
        if (ca.keylen == 16) IMB_AES_KEYEXP_128(m, k, sa->enc_keys, sa->dec_keys);
        else IMB_AES_KEYEXP_256(m, k, sa->enc_keys, sa->dec_keys);
        break;
    case IMB_CIPHER_DES:
        IMB_DES_KEYSCHED(m, sa->des_ks[0], k);
        break;
    case IMB_CIPHER_DES3:
        for (int i = 0; i < 3; i++) {
            IMB_DES_KEYSCHED(m, sa->des_ks[i], k + 8 * i);
            sa->des3_ks[i] = sa->des_ks[i];
        }
        break;
    case IMB_CIPHER_GCM:
        if (ca.keylen == 16) IMB_AES128_GCM_PRE(m, k, &sa->gcm);
        else IMB_AES256_GCM_PRE(m, k, &sa->gcm);
        break;
    case IMB_CIPHER_CHACHA20_POLY1305:
        std::memcpy(sa->enc_keys, k, 32);
        break;
    default:
        break;
    }
    const AuthAlg& aa = *c.auth;
    if (aa.blocklen) hmac_pads(m, aa, c.akey, sa->ipad, sa->opad);
    else if (aa.hash == IMB_AUTH_AES_XCBC)
        IMB_AES_XCBC_KEYEXP(m, c.akey.data(), sa->xcbc_k1, sa->xcbc_k2, sa->xcbc_k3);
    free_mb_mgr(m);
    if (err) *err = ok;
    return sa;
}

}  // namespace devip::crypto

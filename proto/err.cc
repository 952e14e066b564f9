#include "proto/err.h"

#include <cstdarg>
#include <cstdio>

namespace devip::proto {

Err err_text(const char* fmt, ...) {
    static thread_local char ring[8][256];
    static thread_local unsigned next;
    char* buf = ring[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof ring[0], fmt, ap);
    va_end(ap);
    return Err{buf};
}

}  // namespace devip::proto

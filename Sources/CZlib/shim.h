#include <zlib.h>

// zlib's init functions are macros (they pass the library version and struct size);
// Swift cannot call macros, so these wrappers do. Raw deflate (no zlib header or
// checksum): each stored object knows its own length and the dictionary it was made with.
static inline int clustermon_deflate_init(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
}

static inline int clustermon_inflate_init(z_stream *stream) {
    return inflateInit2(stream, -15);
}

// A gzip stream (RFC 1952: header, deflate, CRC-32 and length), for HTTP's Content-Encoding.
static inline int clustermon_gzip_init(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
}

#include <stddef.h>

/// Bytes the C allocator has handed out and not taken back (glibc's mallinfo2: arena
/// chunks in use plus mmapped chunks). What a cache really holds, unlike the resident set,
/// which keeps freed pages and counts pages the allocator has not touched yet.
size_t malloc_info_allocated_bytes(void);

/// Returns free memory at the top of the heaps to the system (glibc's malloc_trim).
void malloc_info_trim(void);

#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

// Gives the allocator's free pages back to the system: glibc's malloc_trim(0) releases the
// whole pages inside free chunks of every arena (MADV_DONTNEED), not only a heap's top.
// Returns 1 when memory was released; 0 when none was, or where the C library has no
// malloc_trim.
static inline int clustermon_malloc_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

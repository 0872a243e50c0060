// glibc's allocator controls (malloc.h is not part of Swift's Glibc module).
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

#include "MallocInfo.h"
#include <malloc.h>

size_t malloc_info_allocated_bytes(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

void malloc_info_trim(void) { malloc_trim(0); }

import CMalloc

/// Gives the allocator's free pages back to the system; the refresher calls it after each
/// refresh.
///
/// glibc's `free` returns memory to the system only from the top of a heap. A refresh frees
/// the previous live view, the graph's previous index and its scratch room, and ingest frees
/// each decoded batch, all in the middle of heaps whose tops stay in use: those pages stay
/// resident, free, until something reuses them, and a process sized by its resident memory
/// (a container's limit, the kubelet's working set) pays for its peaks for good.
/// `malloc_trim(0)` releases every whole free page of every arena (`MADV_DONTNEED`; the
/// address space stays, so reusing it costs a page fault, not a system call). At 5,000 nodes
/// it took the aggregator from 912-1,148 MiB mean resident to 772-788 MiB (BENCHMARKS.md).
public enum FreePages {
    /// True when pages were released (always false where the C library has no
    /// `malloc_trim`).
    @discardableResult
    public static func release() -> Bool { clustermon_malloc_trim() != 0 }
}

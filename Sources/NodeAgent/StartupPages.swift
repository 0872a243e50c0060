#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Kubernetes

/// Gives back the pages of code that only starting up used.
///
/// Most of the agent's resident memory is clean, file-backed code: the binary's text, and
/// libcrypto, which libnats loads and initializes. Starting up (argument parsing, TLS set-up,
/// the first connections) touches much of it, and the kernel maps the 64 KiB around every
/// page touched (fault-around), so ~26 MiB stays mapped while a steady cycle references ~5
/// MiB of it. Once the agent is steady, `MADV_PAGEOUT` on its read-only file mappings lets
/// the kernel reclaim those pages now rather than under memory pressure; what the cycle uses
/// faults back in on the next cycle. Nothing changes for writable or anonymous memory.
public enum StartupPages {
    /// The read-only, file-backed mappings of `/proc/self/maps` text: (start, length).
    static func readOnlyFileMappings(_ maps: String) -> [(start: UInt, length: UInt)] {
        maps.split(separator: "\n").compactMap { line in
            // 7f12c0000000-7f12c0021000 r-xp 00000000 fd:01 1234  /usr/lib/libc.so.6
            let fields = line.split(separator: " ")
            guard fields.count >= 6, fields[5].hasPrefix("/"), !fields[1].contains("w"),
                  let dash = fields[0].firstIndex(of: "-"),
                  let start = UInt(fields[0][..<dash], radix: 16),
                  let end = UInt(fields[0][fields[0].index(after: dash)...], radix: 16), end > start
            else { return nil }
            return (start, end - start)
        }
    }

    /// Advises the kernel to reclaim this process's read-only file-backed pages. Returns
    /// the bytes advised, or nil where the kernel does not know `MADV_PAGEOUT` (before
    /// Linux 5.4) or the maps cannot be read.
    @discardableResult
    public static func release() -> Int? {
        #if os(Linux)
        guard let maps = try? FileBytes.read("/proc/self/maps", limit: 4 << 20) else { return nil }
        var advised = 0
        for mapping in readOnlyFileMappings(String(decoding: maps, as: UTF8.self)) {
            guard let pointer = UnsafeMutableRawPointer(bitPattern: mapping.start) else { continue }
            if madvise(pointer, Int(mapping.length), 21 /* MADV_PAGEOUT */) == 0 {
                advised += Int(mapping.length)
            } else if errno == EINVAL {
                return advised == 0 ? nil : advised
            }
        }
        return advised
        #else
        return nil
        #endif
    }
}


#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that could not be read: which one and why.
public struct FileReadError: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var errno: Int32
    public init(path: String, errno: Int32) {
        self.path = path
        self.errno = errno
    }
    public var description: String { "\(path): \(String(cString: strerror(errno)))" }
    /// The file (or the process it belonged to) is gone: usual for /proc/<pid> mid-scan.
    public var isMissing: Bool { errno == ENOENT || errno == ESRCH }
}

/// Whole-file reads with plain system calls: /proc files report size 0 and must be read
/// to end of file; no Foundation on the agent's hot path.
public enum FileBytes {
    public static func read(_ path: String, limit: Int = 64 << 20) throws(FileReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileReadError(path: path, errno: errno) }
        defer { close(fd) }
        var result: [UInt8] = []
        // Read through one stack buffer: no zero-filled growth of the result.
        try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16 * 1024) { buffer throws(FileReadError) in
            while result.count < limit {
                let n = Glibc.read(fd, buffer.baseAddress!, min(buffer.count, limit - result.count))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileReadError(path: path, errno: errno)
                }
                if n == 0 { break }
                result.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<n]))
            }
        }
        return result
    }

    /// The target of a symbolic link (e.g. `/proc/<pid>/ns/net` -> `net:[4026531992]`).
    public static func readLink(_ path: String) throws(FileReadError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { throw FileReadError(path: path, errno: errno) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

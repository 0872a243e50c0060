#if canImport(Glibc)
import Glibc
#endif
import CZlib

/// The head's write-ahead log: one record per append, written before the append returns,
/// so that a process killed at any moment reopens with every appended row. Records are
/// `[u32 length][u32 crc32][payload]`; replay stops at the first torn or corrupt record (the
/// one being written when the process died). A file starts with `CMTSWAL1` and its
/// generation; every seal starts a new file, and a file goes once a seal covers the newest
/// row it holds.
///
/// Written with write(2) and no fsync per record: a killed process loses nothing the kernel
/// accepted; a power loss can lose what the kernel had not yet written back (seals and
/// graceful stops fsync).
final class WriteAheadLog {
    static let magic: [UInt8] = Array("CMTSWAL1".utf8)
    let path: String
    let generation: UInt64
    private var fd: Int32
    private(set) var bytesWritten = 0
    /// The newest row time written to this file (a seal through a later time makes it obsolete).
    var newest: Int64 = .min

    enum Failure: Error, CustomStringConvertible {
        case io(String, Int32)
        var description: String {
            switch self {
            case .io(let what, let code): "\(what): \(String(cString: strerror(code)))"
            }
        }
    }

    init(creating path: String, generation: UInt64) throws {
        self.path = path
        self.generation = generation
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure.io("opening \(path)", errno) }
        var header = Self.magic
        withUnsafeBytes(of: generation.littleEndian) { header.append(contentsOf: $0) }
        try write(header)
    }

    deinit { if fd >= 0 { close(fd) } }

    func append(_ payload: [UInt8]) throws {
        var record: [UInt8] = []
        record.reserveCapacity(payload.count + 8)
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { record.append(contentsOf: $0) }
        let crc = payload.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        withUnsafeBytes(of: crc.littleEndian) { record.append(contentsOf: $0) }
        record.append(contentsOf: payload)
        try write(record)
    }

    private func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                let code = errno
                // A record written in part (a full disk) would stop every later replay at
                // it: cut the file back to its last whole record.
                _ = ftruncate(fd, off_t(bytesWritten))
                _ = lseek(fd, off_t(bytesWritten), SEEK_SET)
                throw Failure.io("writing \(path)", code)
            }
            offset += n
        }
        bytesWritten += bytes.count
    }

    func sync() { _ = fdatasync(fd) }

    func closeFile() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    /// The generation and the intact records of a log file; nil when there is none or it
    /// is not one.
    static func read(_ path: String) -> (generation: UInt64, records: [[UInt8]], torn: Bool)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else { return nil }
        let generation = bytes[8..<16].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        var records: [[UInt8]] = []
        var offset = 16
        var torn = false
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else { torn = true; break }
            let length = Int(bytes[offset..<(offset + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.littleEndian)
            let crc = bytes[(offset + 4)..<(offset + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }.littleEndian
            guard bytes.count - offset - 8 >= length else { torn = true; break }
            let payload = Array(bytes[(offset + 8)..<(offset + 8 + length)])
            let actual = payload.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
            guard actual == crc else { torn = true; break }
            records.append(payload)
            offset += 8 + length
        }
        return (generation, records, torn)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Kubernetes

/// One process as seen under the proc root.
public struct ProcessEntry: Sendable, Equatable {
    public var pid: Int32
    public var container: ContainerCgroup?
    /// Network namespace inode; nil when the link could not be read.
    public var netns: UInt64?
}

/// What a pass over every process found, and what it could not read.
public struct ProcessScan: Sendable {
    public var processes: [ProcessEntry] = []
    /// Processes that exited between listing and reading (normal; not an error).
    public var vanished = 0
    /// Entries that could not be read for another reason (permissions, ...).
    public var unreadable = 0
    public var firstError: String?
}

/// Sockets of one network namespace.
public struct NamespaceSockets: Sendable {
    public var tcp: [TCPSocket] = []
    public var udp: [TCPSocket] = []
    public var malformedRows = 0
}

/// Reads /proc (or the host's /proc mounted elsewhere, `--proc-root`). Parsing is done by
/// the pure parsers; this type only finds and reads the files.
public struct ProcfsReader: Sendable {
    public let root: String

    public init(root: String = "/proc") {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    }

    public func read(_ relative: String) throws(FileReadError) -> [UInt8] {
        try FileBytes.read("\(root)/\(relative)")
    }

    public func stat() throws -> ProcStat { try ProcStat.parse(read("stat")) }
    public func meminfo() throws -> Meminfo { try Meminfo.parse(read("meminfo")) }
    /// The host's interfaces: those of PID 1's namespace (`<root>/net` would be the
    /// agent's own namespace when it runs in a pod).
    public func hostInterfaces() throws -> [NetDevCounters] { try NetDevCounters.parse(read("1/net/dev")) }
    /// PID 1's network namespace; when that link is not readable (no CAP_SYS_PTRACE over
    /// the host's init), the agent's own, which is the host's for a hostNetwork DaemonSet.
    public func hostNetns() -> UInt64? {
        netns(pid: 1) ?? (try? FileBytes.readLink("\(root)/self/ns/net")).flatMap(NamespaceLink.inode)
    }

    public func netns(pid: Int32) -> UInt64? {
        (try? FileBytes.readLink("\(root)/\(pid)/ns/net")).flatMap(NamespaceLink.inode)
    }

    /// Every numeric entry of the proc root.
    public func pids() -> [Int32] {
        guard let directory = opendir(root) else { return [] }
        defer { closedir(directory) }
        var pids: [Int32] = []
        while let entry = readdir(directory) {
            let pid: Int32? = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                var value: Int32 = 0
                var any = false
                for byte in raw {
                    if byte == 0 { break }
                    let digit = byte &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value &* 10 &+ Int32(digit)
                    any = true
                }
                return any ? value : nil
            }
            if let pid { pids.append(pid) }
        }
        return pids.sorted()
    }

    /// Container and network namespace of every process. Processes that exit mid-scan are
    /// counted, not reported as errors.
    public func scanProcesses() -> ProcessScan {
        var scan = ProcessScan()
        for pid in pids() {
            if let process = process(pid, into: &scan) { scan.processes.append(process) }
        }
        return scan
    }

    /// One process's container (from its cgroup) and network namespace; nil, counted in
    /// `scan`, when it cannot be read (it exited, or permissions).
    func process(_ pid: Int32, into scan: inout ProcessScan) -> ProcessEntry? {
        let cgroup: [UInt8]
        do { cgroup = try read("\(pid)/cgroup") } catch {
            if error.isMissing { scan.vanished += 1 } else {
                scan.unreadable += 1
                scan.firstError = scan.firstError ?? error.description
            }
            return nil
        }
        return ProcessEntry(pid: pid, container: CgroupPath.container(inFile: cgroup), netns: netns(pid: pid))
    }

    /// TCP and UDP sockets (IPv4 and IPv6) of the namespace `pid` lives in.
    public func sockets(pid: Int32) -> NamespaceSockets {
        var result = NamespaceSockets()
        for (file, isTCP) in [("net/tcp", true), ("net/tcp6", true), ("net/udp", false), ("net/udp6", false)] {
            guard let bytes = try? read("\(pid)/\(file)") else { continue }
            let (rows, malformed) = TCPSocket.parse(bytes)
            result.malformedRows += malformed
            if isTCP { result.tcp += rows } else { result.udp += rows }
        }
        return result
    }
}

/// Capacity and use of a mounted filesystem.
public enum FilesystemUsage {
    public struct Usage: Sendable, Equatable {
        public var capacityBytes: UInt64
        public var availableBytes: UInt64
        public var usedBytes: UInt64
        public var inodes: UInt64
        public var inodesFree: UInt64
    }

    public static func of(_ path: String) throws(FileReadError) -> Usage {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { throw FileReadError(path: path, errno: errno) }
        let block = UInt64(info.f_frsize)
        let capacity = UInt64(info.f_blocks) * block
        let free = UInt64(info.f_bfree) * block
        return Usage(capacityBytes: capacity, availableBytes: UInt64(info.f_bavail) * block, usedBytes: capacity - free,
                     inodes: UInt64(info.f_files), inodesFree: UInt64(info.f_ffree))
    }
}

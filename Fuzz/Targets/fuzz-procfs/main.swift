import FuzzDriver
import NodeAgent

/// The procfs parsers: the first byte picks one (stat, meminfo, net/dev, net/tcp, a cgroup
/// file), the rest is its file.
fuzz { input in
    guard let first = input.first else { return }
    let bytes = Array(input.dropFirst())
    switch first % 5 {
    case 0: _ = try? ProcStat.parse(bytes)
    case 1: _ = try? Meminfo.parse(bytes)
    case 2: _ = try? NetDevCounters.parse(bytes)
    case 3: _ = TCPSocket.parse(bytes)
    default: _ = CgroupPath.container(inFile: bytes)
    }
}

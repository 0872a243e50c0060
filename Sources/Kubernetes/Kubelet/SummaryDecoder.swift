/// Decodes the kubelet's `/stats/summary` from bytes: known keys read, everything else
/// skipped (each release adds some: `psi`, `io`, `swap`, `process_stats`, ...).
public enum SummaryDecoder {
    public static func decode(_ bytes: some JSONBytes) throws -> KubeletSummary {
        try JSONScanner.decode(bytes) { scanner in
            var summary = KubeletSummary()
            try scanner.forEachMember { s, key in
                if key == "node" { summary.node = try node(&s) }
                else if key == "pods" { summary.pods = try s.array(pod) }
            }
            return summary
        }
    }

    static func node(_ s: inout JSONScanner) throws -> NodeSummary {
        var node = NodeSummary()
        try s.forEachMember { s, key in
            if key == "nodeName" { node.nodeName = try s.string() }
            else if key == "startTime" { node.startTime = try s.timestamp() }
            else if key == "cpu" { node.cpu = try cpu(&s) }
            else if key == "memory" { node.memory = try memory(&s) }
            else if key == "network" { node.interfaces = try network(&s) }
            else if key == "fs" { node.fs = try fs(&s) }
            else if key == "runtime" {
                try s.forEachMember { s, key in
                    if key == "imageFs" { node.imageFs = try fs(&s) }
                }
            }
        }
        return node
    }

    static func pod(_ s: inout JSONScanner) throws -> PodSummary {
        var pod = PodSummary()
        try s.forEachMember { s, key in
            if key == "podRef" {
                try s.forEachMember { s, key in
                    if key == "name" { pod.name = try s.string() }
                    else if key == "namespace" { pod.namespace = try s.string() }
                    else if key == "uid" { pod.uid = try s.string() }
                }
            }
            else if key == "startTime" { pod.startTime = try s.timestamp() }
            else if key == "containers" { pod.containers = try s.array(container) }
            else if key == "cpu" { pod.cpu = try cpu(&s) }
            else if key == "memory" { pod.memory = try memory(&s) }
            else if key == "network" { pod.interfaces = try network(&s) }
            else if key == "volume" { pod.volumes = try s.array(volume) }
            else if key == "ephemeral-storage" { pod.ephemeralStorage = try fs(&s) }
        }
        return pod
    }

    static func container(_ s: inout JSONScanner) throws -> ContainerSummary {
        var container = ContainerSummary()
        try s.forEachMember { s, key in
            if key == "name" { container.name = try s.string() }
            else if key == "startTime" { container.startTime = try s.timestamp() }
            else if key == "cpu" { container.cpu = try cpu(&s) }
            else if key == "memory" { container.memory = try memory(&s) }
            else if key == "rootfs" { container.rootfs = try fs(&s) }
            else if key == "logs" { container.logs = try fs(&s) }
        }
        return container
    }

    static func volume(_ s: inout JSONScanner) throws -> VolumeSummary {
        var volume = VolumeSummary()
        try s.forEachMember { s, key in
            if key == "name" { volume.name = try s.string() }
            else if key == "pvcRef" {
                try s.forEachMember { s, key in
                    if key == "name" { volume.pvcName = try s.string() }
                    else if key == "namespace" { volume.pvcNamespace = try s.string() }
                }
            }
            else { try fsField(&s, key, &volume.fs) }
        }
        return volume
    }

    static func cpu(_ s: inout JSONScanner) throws -> CPUStats {
        var cpu = CPUStats()
        try s.forEachMember { s, key in
            if key == "usageNanoCores" { cpu.usageNanoCores = try s.optionalUInt64() }
            else if key == "usageCoreNanoSeconds" { cpu.usageCoreNanoSeconds = try s.optionalUInt64() }
        }
        return cpu
    }

    static func memory(_ s: inout JSONScanner) throws -> MemoryStats {
        var memory = MemoryStats()
        try s.forEachMember { s, key in
            if key == "workingSetBytes" { memory.workingSetBytes = try s.optionalUInt64() }
            else if key == "usageBytes" { memory.usageBytes = try s.optionalUInt64() }
            else if key == "availableBytes" { memory.availableBytes = try s.optionalUInt64() }
            else if key == "rssBytes" { memory.rssBytes = try s.optionalUInt64() }
            else if key == "pageFaults" { memory.pageFaults = try s.optionalUInt64() }
            else if key == "majorPageFaults" { memory.majorPageFaults = try s.optionalUInt64() }
        }
        return memory
    }

    static func fs(_ s: inout JSONScanner) throws -> FsStats {
        var fs = FsStats()
        try s.forEachMember { s, key in try fsField(&s, key, &fs) }
        return fs
    }

    static func fsField(_ s: inout JSONScanner, _ key: JSONKey, _ fs: inout FsStats) throws {
        if key == "availableBytes" { fs.availableBytes = try s.optionalUInt64() }
        else if key == "capacityBytes" { fs.capacityBytes = try s.optionalUInt64() }
        else if key == "usedBytes" { fs.usedBytes = try s.optionalUInt64() }
        else if key == "inodesFree" { fs.inodesFree = try s.optionalUInt64() }
        else if key == "inodes" { fs.inodes = try s.optionalUInt64() }
        else if key == "inodesUsed" { fs.inodesUsed = try s.optionalUInt64() }
    }

    /// The default interface's numbers sit beside the `interfaces` list, which repeats it;
    /// the list wins when present.
    static func network(_ s: inout JSONScanner) throws -> [InterfaceStats] {
        var top = InterfaceStats()
        var list: [InterfaceStats]?
        try s.forEachMember { s, key in
            if key == "interfaces" { list = try s.array(interface) }
            else { try interfaceField(&s, key, &top) }
        }
        if let list, !list.isEmpty { return list }
        return top.name.isEmpty && top.rxBytes == nil ? [] : [top]
    }

    static func interface(_ s: inout JSONScanner) throws -> InterfaceStats {
        var stats = InterfaceStats()
        try s.forEachMember { s, key in try interfaceField(&s, key, &stats) }
        return stats
    }

    static func interfaceField(_ s: inout JSONScanner, _ key: JSONKey, _ stats: inout InterfaceStats) throws {
        if key == "name" { stats.name = try s.string() }
        else if key == "rxBytes" { stats.rxBytes = try s.optionalUInt64() }
        else if key == "rxErrors" { stats.rxErrors = try s.optionalUInt64() }
        else if key == "txBytes" { stats.txBytes = try s.optionalUInt64() }
        else if key == "txErrors" { stats.txErrors = try s.optionalUInt64() }
    }
}

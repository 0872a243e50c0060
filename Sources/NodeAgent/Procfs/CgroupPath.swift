/// The container a process belongs to, as its cgroup path tells.
public struct ContainerCgroup: Sendable, Equatable, Hashable {
    /// 64 lower-case hex characters.
    public var containerID: String
    /// `docker`, `containerd` or `cri-o` when the path says (systemd driver), else "".
    public var runtime: String
    /// The pod's uid (with dashes) when the path is under kubepods, else "".
    public var podUID: String

    public init(containerID: String, runtime: String = "", podUID: String = "") {
        self.containerID = containerID
        self.runtime = runtime
        self.podUID = podUID
    }
}

/// Reads /proc/<pid>/cgroup: v1 lines `N:controllers:path`, v2 `0::path`.
///
/// Container ids appear as a 64-hex path component (cgroupfs driver:
/// `/kubepods/<qos>/pod<uid>/<id>`, `/docker/<id>`) or in a systemd scope
/// (`docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`). CRI-O's
/// `crio-conmon-<id>.scope` is its monitor process, not the container. A path read from a
/// non-host cgroup namespace starts with `/..`; its components are read the same way.
public enum CgroupPath {
    /// The container of the first line that names one; nil for host processes.
    public static func container(inFile bytes: [UInt8]) -> ContainerCgroup? {
        for line in ProcText.lines(bytes) {
            // `N:controllers:path`; the path may itself contain ':'.
            guard let first = line.firstIndex(of: UInt8(ascii: ":")),
                  let second = line[(first + 1)...].firstIndex(of: UInt8(ascii: ":")) else { continue }
            if let found = container(inPath: line[(second + 1)...]) { return found }
        }
        return nil
    }

    public static func container(inPath path: String) -> ContainerCgroup? {
        container(inPath: Array(path.utf8)[...])
    }

    static func container(inPath path: ArraySlice<UInt8>) -> ContainerCgroup? {
        var pod = ""
        var found: ContainerCgroup?
        for component in path.split(separator: UInt8(ascii: "/")) {
            if let uid = podUID(in: component) { pod = uid; continue }
            if let container = containerID(in: component) { found = container }
        }
        guard var found else { return nil }
        found.podUID = pod
        return found
    }

    private static let scopePrefixes: [(prefix: [UInt8], runtime: String)] = [
        (Array("cri-containerd-".utf8), "containerd"),
        (Array("docker-".utf8), "docker"),
        (Array("crio-".utf8), "cri-o"),
    ]

    private static func containerID(in component: ArraySlice<UInt8>) -> ContainerCgroup? {
        var trimmed = component
        while let last = trimmed.last, last == UInt8(ascii: " ") { trimmed = trimmed.dropLast() }
        if isContainerID(trimmed) { return ContainerCgroup(containerID: ProcText.string(trimmed).lowercased()) }
        let scope = Array(".scope".utf8)
        guard trimmed.count > scope.count, trimmed.suffix(scope.count).elementsEqual(scope) else { return nil }
        let name = trimmed.dropLast(scope.count)
        if name.starts(with: "crio-conmon-".utf8) { return nil }
        for (prefix, runtime) in scopePrefixes where name.starts(with: prefix) {
            let id = name.dropFirst(prefix.count)
            if isContainerID(id) { return ContainerCgroup(containerID: ProcText.string(id).lowercased(), runtime: runtime) }
        }
        return nil
    }

    static func isContainerID(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.count == 64 && bytes.allSatisfy { ProcText.hexDigit($0) != nil }
    }

    /// `pod<uid>` (cgroupfs) or `kubepods[-<qos>]-pod<uid_with_underscores>.slice` (systemd).
    private static func podUID(in component: ArraySlice<UInt8>) -> String? {
        var text = Substring(ProcText.string(component))
        if text.hasSuffix(".slice") {
            text = text.dropLast(".slice".count)
            // The uid follows the last "-pod" of `kubepods-burstable-pod<uid>`.
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard let last = parts.last, last.hasPrefix("pod") else { return nil }
            text = last.dropFirst(3)
        } else if text.hasPrefix("pod") {
            text = text.dropFirst(3)
        } else {
            return nil
        }
        let uid = String(text.map { $0 == "_" ? "-" : $0 })
        // A uid is 32 hex digits with dashes (static pods use a 32-hex config hash without).
        let hex = uid.filter { $0 != "-" }
        guard hex.count == 32, hex.allSatisfy({ $0.isHexDigit }) else { return nil }
        return uid
    }
}

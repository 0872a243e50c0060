import Foundation

/// A tmpfs of a few megabytes mounted for one test, to fill up (mounting needs root: the
/// tests run as root, as CI does); unmounted and removed when released.
public final class SmallVolume {
    public let path: String

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(megabytes: Int) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-volume-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard try ClustermonProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]) == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw Failure(description: "mounting a tmpfs at \(path) failed: it needs root (the tests run as root, as CI does)")
        }
    }

    /// Fills what is left with one file, whose path it returns (remove it to give the space back).
    public func fill() throws -> String {
        let filler = path + "/filler"
        FileManager.default.createFile(atPath: filler, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: filler) else { throw Failure(description: "cannot write \(filler)") }
        let block = Data(count: 4096)
        while (try? handle.write(contentsOf: block)) != nil {}
        try? handle.close()
        return filler
    }

    deinit {
        _ = try? ClustermonProcess.run("/bin/umount", [path])
        try? FileManager.default.removeItem(atPath: path)
    }
}

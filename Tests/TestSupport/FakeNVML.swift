import Foundation
import Synchronization

/// NVIDIA's management library as the tests have it: `Tests/fake-nvml/fake_nvml.c`,
/// compiled with the system's C compiler into a shared library that exports NVML's functions
/// (see the C file for its script). Each `FakeNVML` is its own copy of the library in its own
/// directory, so that `dlopen` gives every test its own instance and devices.
public struct FakeNVML: Sendable {
    public enum Variant: String, Sendable, CaseIterable {
        /// Every function the agent uses.
        case complete
        /// Without `nvmlDeviceGetProcessUtilization` (an optional function).
        case withoutProcessUtilization = "OMIT_PROCESS_UTILIZATION"
        /// Without `nvmlDeviceGetMemoryInfo` (a required function).
        case withoutMemoryInfo = "OMIT_MEMORY_INFO"
    }

    /// The library's path (`.../libnvidia-ml.so.1`), what the agent's `--nvml-library` takes.
    public let libraryPath: String
    /// The script the library reads (`<library>.script`).
    public var scriptPath: String { libraryPath + ".script" }

    private static let built = Mutex<[Variant: String]>([:])

    /// Compiles the variant once per test process (into the temporary directory).
    static func compiled(_ variant: Variant) throws -> String {
        if let path = built.withLock({ $0[variant] }) { return path }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-fake-nvml-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let output = directory.appendingPathComponent("libnvidia-ml.so.1").path
        let source = Fixtures.packageRoot.appendingPathComponent("Tests/fake-nvml/fake_nvml.c").path
        var arguments = ["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", output, source, "-ldl"]
        if variant != .complete { arguments.insert("-D\(variant.rawValue)", at: 0) }
        let compiler = FileManager.default.isExecutableFile(atPath: "/usr/bin/cc") ? "cc" : "clang"
        let result = try runCommand(compiler, arguments)
        guard result.status == 0 else {
            throw FakeNVMLError("\(compiler) \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
        built.withLock { $0[variant] = output }
        return output
    }

    /// A fresh copy of the library with `script` beside it.
    public init(_ variant: Variant = .complete, script: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-nvml-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        libraryPath = directory.appendingPathComponent("libnvidia-ml.so.1").path
        try FileManager.default.copyItem(atPath: try Self.compiled(variant), toPath: libraryPath)
        try write(script: script)
    }

    /// Replaces the script (the library reads it again at its next device count).
    public func write(script: String) throws {
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: libraryPath).deletingLastPathComponent().path)
    }
}

public struct FakeNVMLError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

import Foundation

/// A built binary of this package (`clustermon`, or the DaemonSet's `clustermon-agent`),
/// run as a user would, with its log read as it runs.
public final class ClustermonProcess: @unchecked Sendable {
    public let process: ChildProcess
    private let output: OutputLog

    public static func binary(_ name: String = "clustermon") -> URL {
        // Tests run from .build/<triple>/debug/<package>PackageTests.xctest; the binary is beside it.
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent(name)
    }

    public init(_ arguments: [String], binary name: String = "clustermon", environment: [String: String] = [:]) throws {
        let binary = Self.binary(name)
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw NATSServer.Failure.didNotStart("no \(name) binary at \(binary.path): run `swift build` before `swift test`")
        }
        process = try ChildProcess(executable: binary.path, arguments: arguments,
                                   environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, stdout: .pipe, stderr: .merged)
        output = OutputLog(reading: process.standardOutput!)
    }

    /// The log so far once it contains `marker`, or once the process has closed its output.
    public func waitForLog(_ marker: String) async -> String { await output.wait(for: marker) }

    /// The log once `marker` appears `count` times.
    public func waitForLog(_ marker: String, count: Int) async -> String {
        await output.wait { $0.components(separatedBy: marker).count - 1 >= count }
    }

    public var log: String { output.all }

    /// The value of `key=value` in the first log line that contains `marker`.
    /// Runs a command to its end; its exit status.
    public static func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        try ChildProcess(executable: executable, arguments: arguments, stdout: .null, stderr: .null).terminationStatus
    }

    public static func field(_ key: String, inLineWith marker: String, of log: String) -> String? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains(marker) }) else { return nil }
        guard let start = line.range(of: "\(key)=") else { return nil }
        return String(line[start.upperBound...].prefix { !$0.isWhitespace })
    }

    public func signal(_ number: Int32) { process.signal(number) }

    /// Waits for exit (on a thread of its own) and returns the exit status.
    public func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { [process] in
                continuation.resume(returning: process.terminationStatus)
            }
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

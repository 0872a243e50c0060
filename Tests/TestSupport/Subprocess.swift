import Foundation

/// Runs a command to completion with optional standard input; returns exit status and output.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: Data
    public var stderr: String
    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

public func runCommand(_ executable: String, _ arguments: [String], input: Data? = nil, directory: URL? = nil) throws -> CommandResult {
    let process = try ChildProcess(command: executable, arguments, directory: directory?.path, stdin: .pipe)
    // Read both pipes concurrently so that neither fills up and blocks the child.
    let group = DispatchGroup()
    nonisolated(unsafe) var out = Data(), err = Data()
    group.enter()
    DispatchQueue.global().async { out = process.standardOutput!.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { err = process.standardError!.readDataToEndOfFile(); group.leave() }
    if let input { process.standardInput!.write(input) }
    try process.standardInput!.close()
    process.waitUntilExit()
    group.wait()
    return CommandResult(status: process.terminationStatus, stdout: out, stderr: String(decoding: err, as: UTF8.self))
}

/// `runCommand` off the concurrency pool: a command that runs for minutes must not hold one
/// of its few threads (two on a two-core machine) while the other tests wait for them.
public func runCommandDetached(_ executable: String, _ arguments: [String], directory: URL? = nil) async throws -> CommandResult {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            do { continuation.resume(returning: try runCommand(executable, arguments, directory: directory)) } catch { continuation.resume(throwing: error) }
        }
    }
}

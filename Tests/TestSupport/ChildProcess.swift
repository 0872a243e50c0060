import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for every program the tests run.
///
/// Not Foundation's `Process`: on Linux its `run()` reads each `/proc/self/fd` entry with a
/// 256-byte copy of `dirent.d_name` and crashes the whole test process when the entry sits at
/// the end of glibc's buffer before an unmapped page (swiftlang/swift-corelibs-foundation
/// #5472, not in the 6.3.1 toolchain). It did in CI, once, in the middle of the suite.
///
/// The child gets its standard streams and nothing else: every other descriptor is closed in
/// it (`posix_spawn_file_actions_addclosefrom_np`), so a server started by one test never
/// holds another test's pipe open.
public final class ChildProcess: @unchecked Sendable {
    public enum Stream: Sendable {
        /// A pipe the parent reads (or, for standard input, writes).
        case pipe
        /// Standard error into the standard output's pipe.
        case merged
        /// `/dev/null`.
        case null
    }

    public let processIdentifier: pid_t
    /// The parent's ends of the pipes asked for.
    public let standardInput: FileHandle?
    public let standardOutput: FileHandle?
    public let standardError: FileHandle?

    private let condition = NSCondition()
    private var status: Int32?

    /// Starts `executable` (a path) with `arguments`; `environment` nil inherits this
    /// process's.
    public init(executable: String, arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                stdin: Stream = .null, stdout: Stream = .pipe, stderr: Stream = .pipe) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [Int32] = [], childEnds: [Int32] = []
        func makePipe() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { throw SpawnError("pipe: \(String(cString: strerror(errno)))") }
            return (fds[0], fds[1])
        }
        /// A pipe whose one end becomes the child's `fd` (it writes it, or for standard input
        /// reads it); the parent's end, and the child's for the caller to reuse.
        func connect(_ fd: Int32) throws -> (parent: FileHandle, child: Int32) {
            let p = try makePipe()
            let (child, parent) = fd == 0 ? (p.read, p.write) : (p.write, p.read)
            posix_spawn_file_actions_adddup2(&actions, child, fd)
            parentEnds.append(parent); childEnds.append(child)
            return (FileHandle(fileDescriptor: parent, closeOnDealloc: true), child)
        }
        var input: FileHandle?, output: FileHandle?, error: FileHandle?
        switch stdin {
        case .pipe: input = try connect(0).parent
        default: posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        var outputWrite: Int32 = -1
        switch stdout {
        case .pipe, .merged: (output, outputWrite) = try connect(1)
        case .null: posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        switch stderr {
        case .pipe: error = try connect(2).parent
        case .merged where outputWrite >= 0: posix_spawn_file_actions_adddup2(&actions, outputWrite, 2)
        default: posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        guard Self.closeFrom(&actions, 3) == 0 else { throw SpawnError("posix_spawn_file_actions_addclosefrom_np failed") }
        if let directory, Self.changeDirectory(&actions, directory) != 0 {
            throw SpawnError("posix_spawn_file_actions_addchdir_np \(directory) failed")
        }

        let argv = ([executable] + arguments).map { strdup($0) }
        let env = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } }
        defer {
            argv.forEach { free($0) }
            env?.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { args -> Int32 in
            if let env {
                return (env + [nil]).withUnsafeBufferPointer { envp in
                    posix_spawn(&pid, executable, &actions, nil, UnsafeMutablePointer(mutating: args.baseAddress!), UnsafeMutablePointer(mutating: envp.baseAddress!))
                }
            }
            return posix_spawn(&pid, executable, &actions, nil, UnsafeMutablePointer(mutating: args.baseAddress!), environ)
        }
        // The child holds its ends now (or never will): the parent lets go of them, so that a
        // read of its output ends when the child exits.
        childEnds.forEach { close($0) }
        guard result == 0 else {
            parentEnds.forEach { close($0) }
            throw SpawnError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        processIdentifier = pid
        standardInput = input
        standardOutput = output
        standardError = error
        // Reaped on a thread of its own, as soon as it exits.
        Thread.detachNewThread { [self, pid] in
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) == -1 && errno == EINTR {}
            condition.lock()
            // As Foundation's terminationStatus: the exit code, or the signal that ended it.
            status = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : raw & 0x7f
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Runs `executable` (found on the PATH through /usr/bin/env) to its end.
    public convenience init(command: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                            stdin: Stream = .null, stdout: Stream = .pipe, stderr: Stream = .pipe) throws {
        try self.init(executable: "/usr/bin/env", arguments: [command] + arguments, environment: environment, directory: directory,
                      stdin: stdin, stdout: stdout, stderr: stderr)
    }

    public var isRunning: Bool {
        condition.lock()
        defer { condition.unlock() }
        return status == nil
    }

    /// The exit status (or the signal's number), once it exited.
    public var terminationStatus: Int32 {
        waitUntilExit()
        condition.lock()
        defer { condition.unlock() }
        return status ?? -1
    }

    public func waitUntilExit() {
        condition.lock()
        while status == nil { condition.wait() }
        condition.unlock()
    }

    public func signal(_ number: Int32) {
        if isRunning { kill(processIdentifier, number) }
    }

    public func terminate() { signal(SIGTERM) }

    // glibc 2.34 has both; Swift's Glibc module does not declare them.
    private typealias FileAction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias DirectoryAction = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private static let closeFromSymbol: FileAction? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: FileAction.self) }
    private static let changeDirectorySymbol: DirectoryAction? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: DirectoryAction.self) }

    private static func closeFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ fd: Int32) -> Int32 {
        closeFromSymbol?(actions, fd) ?? -1
    }

    private static func changeDirectory(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: String) -> Int32 {
        guard let call = changeDirectorySymbol else { return -1 }
        return path.withCString { call(actions, $0) }
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

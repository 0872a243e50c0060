import Foundation

/// A real `nats-server` with JetStream, on a loopback port, for one test. Never skipped:
/// a missing server is an error that says how to install it.
public final class NATSServer: @unchecked Sendable {
    public let port: Int
    public let storeDirectory: URL
    public let extraArguments: [String]
    private let process: ChildProcess
    private let output: OutputLog
    /// The server that was started last on a store removes it when it goes away.
    private var ownsStore = true

    public var url: String { "nats://127.0.0.1:\(port)" }

    public enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case didNotStart(String)
        public var description: String {
            switch self {
            case .notInstalled: "nats-server not found: install it (apt-get install nats-server); tests need a real server"
            case .didNotStart(let log): "nats-server did not start:\n\(log)"
            }
        }
    }

    private init(port: Int, storeDirectory: URL, extraArguments: [String], process: ChildProcess, output: OutputLog) {
        self.port = port
        self.storeDirectory = storeDirectory
        self.extraArguments = extraArguments
        self.process = process
        self.output = output
    }

    static func executable() throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/usr/local/bin"]
        for directory in candidates {
            let url = URL(fileURLWithPath: directory).appendingPathComponent("nats-server")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw Failure.notInstalled
    }

    /// Starts a server; port 0 lets the server choose a free one. `extraArguments` adds auth
    /// (`--user`/`--pass`, `--auth`) and the like.
    public static func start(port: Int = 0, storeDirectory: URL? = nil, extraArguments: [String] = [],
                             environment: [String: String] = [:]) async throws -> NATSServer {
        let store = storeDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-nats-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
        // A configuration file's `$VARIABLE`s come from the server's environment.
        let process = try ChildProcess(
            executable: try executable().path,
            arguments: ["-js", "-a", "127.0.0.1", "-p", port == 0 ? "-1" : String(port), "-sd", store.path] + extraArguments,
            environment: environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
            stdout: .pipe, stderr: .merged)
        let output = OutputLog(reading: process.standardOutput!)
        let log = await output.wait(for: "Server is ready")
        guard log.contains("Server is ready"), let chosen = Self.clientPort(in: log) else {
            process.terminate()
            throw Failure.didNotStart(log)
        }
        return NATSServer(port: chosen, storeDirectory: store, extraArguments: extraArguments, process: process, output: output)
    }

    private static func clientPort(in log: String) -> Int? {
        guard let range = log.range(of: "Listening for client connections on ") else { return nil }
        let rest = log[range.upperBound...].prefix { $0 != "\n" }
        return rest.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Stops the server and waits for it to exit.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// Starts a new server on the same port and store (a restart, as operators do).
    public func restarted() async throws -> NATSServer {
        stop()
        ownsStore = false
        return try await NATSServer.start(port: port, storeDirectory: storeDirectory, extraArguments: extraArguments)
    }

    public var log: String { output.all }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        if ownsStore { try? FileManager.default.removeItem(at: storeDirectory) }
    }
}

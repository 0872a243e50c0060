import AsyncHTTPClient
import Foundation
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// A free loopback TCP port (bound once and released: servers that cannot pick their own
/// port, like Prometheus and VictoriaMetrics, are started on it).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw NATSServer.Failure.didNotStart("socket: \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    guard bound == 0 else { throw NATSServer.Failure.didNotStart("bind: \(errno)") }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A real time-series database from Debian for one test: `prometheus` (with its remote
/// write receiver on) or `victoria-metrics`, on a loopback port, with its own data
/// directory; PromQL over its HTTP API. Never skipped: a missing binary says how to install it.
public final class TSDBServer: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    public let name: String
    private let process: ChildProcess
    private let output: OutputLog

    public var url: String { "http://127.0.0.1:\(port)" }
    /// The remote write receiver (the same path on both).
    public var writeURL: String { "\(url)/api/v1/write" }
    public var log: String { output.all }

    private init(name: String, port: Int, directory: URL, process: ChildProcess, output: OutputLog) {
        self.name = name
        self.port = port
        self.directory = directory
        self.process = process
        self.output = output
    }

    /// Prometheus with `--web.enable-remote-write-receiver` and this configuration file.
    public static func prometheus(configuration: String = "global:\n  scrape_interval: 1s\n", port: Int? = nil) async throws -> TSDBServer {
        let port = try port ?? freeLoopbackPort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = directory.appendingPathComponent("prometheus.yml")
        try configuration.write(to: config, atomically: true, encoding: .utf8)
        return try await start(name: "prometheus", port: port, directory: directory, arguments: [
            "--config.file=\(config.path)", "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver", "--log.level=warn",
        ], readyPath: "/-/ready")
    }

    /// VictoriaMetrics single-node.
    public static func victoriaMetrics(port: Int? = nil, directory: URL? = nil) async throws -> TSDBServer {
        let port = try port ?? freeLoopbackPort()
        let directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-victoria-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return try await start(name: "victoria-metrics", port: port, directory: directory, arguments: [
            "-storageDataPath=\(directory.path)", "-httpListenAddr=127.0.0.1:\(port)", "-loggerLevel=WARN",
            // Samples are searchable at once, not after the default 30 s of caching.
            "-search.latencyOffset=0s", "-search.disableCache",
        ], readyPath: "/health")
    }

    static func start(name: String, port: Int, directory: URL, arguments: [String], readyPath: String) async throws -> TSDBServer {
        let process = try ChildProcess(command: name, arguments, stdout: .pipe, stderr: .merged)
        let server = TSDBServer(name: name, port: port, directory: directory, process: process, output: OutputLog(reading: process.standardOutput!))
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            guard process.isRunning else {
                throw NATSServer.Failure.didNotStart("\(name) exited (apt-get install prometheus victoria-metrics; scripts/setup.sh --tests does): \(server.log)")
            }
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "\(server.url)\(readyPath)"), timeout: .seconds(2)),
               response.status.code == 200 {
                return server
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        server.stop()
        throw NATSServer.Failure.didNotStart("\(name) not ready within 60 s: \(server.log)")
    }

    /// An instant PromQL query: each series' labels and value.
    public func query(_ promql: String) async throws -> [(labels: [String: String], value: Double)] {
        var components = URLComponents(string: "\(url)/api/v1/query")!
        components.queryItems = [URLQueryItem(name: "query", value: promql)]
        // URLComponents leaves `+` as is, which a form decoder reads as a space.
        components.percentEncodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: components.url!.absoluteString), timeout: .seconds(20))
        let body = try await response.body.collect(upTo: 1 << 24)
        guard let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              object["status"] as? String == "success", let data = object["data"] as? [String: Any] else {
            throw NATSServer.Failure.didNotStart("\(name) query \(promql): \(String(buffer: body))")
        }
        let result = data["result"] as? [[String: Any]] ?? []
        return result.compactMap { series in
            guard let value = series["value"] as? [Any], value.count == 2, let text = value[1] as? String, let number = Double(text) else { return nil }
            return ((series["metric"] as? [String: String]) ?? [:], number)
        }
    }

    /// Stops the server and waits for it to exit; the data directory stays until `remove`.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

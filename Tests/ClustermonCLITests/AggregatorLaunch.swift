import AsyncHTTPClient
import Foundation
import NIOSSL
import TestSupport

/// `clustermon aggregator` as the process tests run it: against a fake API server on real
/// TLS (its token in a file) and a real nats-server, with its own history directory.
final class AggregatorLaunch: Sendable {
    let tokenFile: URL
    let dataDir: String

    init(apiToken: String) throws {
        let id = UUID().uuidString
        tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-api-token-\(id)")
        dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-aggregator-\(id)").path
        try apiToken.write(to: tokenFile, atomically: true, encoding: .utf8)
    }

    deinit {
        try? FileManager.default.removeItem(at: tokenFile)
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    func start(apiServer: String, nats: String, secret: String, arguments: [String] = [], environment: [String: String] = [:]) throws -> ClustermonProcess {
        try ClustermonProcess(
            ["aggregator", "--addr", "127.0.0.1:0", "--api-server", apiServer, "--api-token-file", tokenFile.path, "--data-dir", dataDir,
             "--api-ca", try TestCertificates.get().caCertificate, "--nats", nats] + arguments,
            environment: ["JWT_SECRET": secret].merging(environment) { $1 })
    }

    /// The address a started process listens on, once it says so.
    static func url(of process: ClustermonProcess) async throws -> String {
        let listening = try await withTimeout(.seconds(60), "listening") { await process.waitForLog("http listening") }
        guard let url = ClustermonProcess.field("url", inLineWith: "http listening", of: listening) else {
            throw NATSServer.Failure.didNotStart("no url in: \(listening)")
        }
        return url
    }
}

/// A client trusting the test CA (HTTPS aggregators); it lives as long as the test process.
let testCAClient: HTTPClient = {
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .file((try? TestCertificates.get().caCertificate) ?? "")
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
}()

/// A GET over a real socket: status and body (`tls`: trusting the test CA).
func httpGet(_ url: String, bearer token: String? = nil, tls: Bool = false) async throws -> (status: UInt, body: String) {
    var request = HTTPClientRequest(url: url)
    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
    let response = try await (tls ? testCAClient : HTTPClient.shared).execute(request, timeout: .seconds(20))
    return (response.status.code, String(buffer: try await response.body.collect(upTo: 1 << 26)))
}

/// `curl` over HTTPS trusting the test CA: what `--write-out` prints (the status by
/// default), the body, and curl's exit status (non-zero when the handshake fails).
func curlHTTPS(_ url: String, _ options: [String] = [], writeOut: String = "%{http_code}") async throws -> (out: String, body: String, exit: Int32) {
    let bodyFile = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-curl-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: bodyFile) }
    let result = try await runCommandDetached("curl", ["-sS", "-o", bodyFile.path, "-w", writeOut, "--cacert", try TestCertificates.get().caCertificate]
                                                      + options + [url])
    return (result.stdoutText, (try? String(contentsOf: bodyFile, encoding: .utf8)) ?? "", result.status)
}

/// Runs `body`, then stops the processes (SIGTERM) and waits for them to exit, whether
/// `body` threw or not. A process left retrying against a test's local server while that
/// server shuts down made NIO trap in the test process (a connection accepted during
/// shutdown), taking every other test with it.
func stopping<T>(_ processes: [ClustermonProcess], _ body: () async throws -> T) async throws -> T {
    let result: Result<T, any Error>
    do { result = .success(try await body()) } catch { result = .failure(error) }
    for process in processes { process.signal(SIGTERM) }
    for process in processes { _ = try? await withTimeout(.seconds(30), "exit") { await process.waitForExit() } }
    return try result.get()
}

/// Asks `probe` every `every` until it returns a value, within `limit`.
func eventually<T: Sendable>(_ limit: Duration, _ what: String, every: Duration = .milliseconds(250),
                             _ probe: @escaping @Sendable () async throws -> T?) async throws -> T {
    try await withTimeout(limit, what) {
        while true {
            if let value = try await probe() { return value }
            try await Task.sleep(for: every)
        }
    }
}

/// `/readyz`'s body once it answers 200.
func readyBody(_ url: String, within limit: Duration) async throws -> String {
    try await eventually(limit, "ready") {
        let ready = try await httpGet("\(url)/readyz")
        return ready.status == 200 ? ready.body : nil
    }
}

import API
import AsyncHTTPClient
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOSSL
import Synchronization
import Testing
import TestSupport

/// The aggregator's API over HTTPS, as a real process: REST over HTTP/2 and HTTP/1.1, SSE,
/// WebSocket over `wss://`, and the serving certificate replaced while a stream is open.
@Suite("HTTPS", .serialized)
struct TLSServingTests {
    /// The subject of the certificate a new TLS connection to `port` is shown (openssl s_client).
    static func presentedSubject(port: Int) async throws -> String {
        let result = try await runCommandDetached("sh", ["-c",
            "openssl s_client -connect 127.0.0.1:\(port) -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject"])
        return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The HTTP version curl negotiated and the status.
    static func curl(_ url: String, _ options: [String]) async throws -> String {
        try await curlHTTPS(url, options, writeOut: "%{http_version} %{http_code}").out
    }

    @Test func wholeAPIOverHTTPSAndACertificateRotatedUnderAnOpenStream() async throws {
        let certificates = try TestCertificates.get()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-serving-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificate = directory.appendingPathComponent("tls.crt").path, key = directory.appendingPathComponent("tls.key").path
        try certificates.issue(commonName: "first", certificate: certificate, key: key)

        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let api = FakeAPIServer()
        let launch = try AggregatorLaunch(apiToken: api.token)
        let secret = "tls-serving-secret-of-32-bytes-xy"
        let admin = try JWTVerifier(secret: secret).sign(userID: "root", isAdmin: true, ttl: .seconds(600))

        let tls = {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(certificates.caCertificate)
            return tls
        }()
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))

        defer { _ = client.shutdown() }
        try await withLocalServer(api.router(), tls: true) { endpoint in
            let aggregator = try launch.start(apiServer: endpoint.baseURL, nats: nats.url, secret: secret,
                                              arguments: ["--refresh", "1s", "--tls-cert-file", certificate, "--tls-private-key-file", key])
            let simulated = try ClustermonProcess(["simulate", "--nodes", "3", "--pods", "2", "--interval", "1s", "--nats", nats.url])
            try await stopping([simulated, aggregator]) {
                let url = try await AggregatorLaunch.url(of: aggregator)
                #expect(url.hasPrefix("https://127.0.0.1:"))
                let port = try #require(Int(url.split(separator: ":").last ?? ""))
                let plain = url.replacingOccurrences(of: "https://", with: "http://")
                #expect(try await Self.presentedSubject(port: port).hasSuffix("CN = first"))

                // REST: HTTP/2 by ALPN, HTTP/1.1 when asked; the auth rules as over HTTP.
                var request = HTTPClientRequest(url: "\(url)/cluster-info")
                request.headers.add(name: "Authorization", value: "Bearer \(admin)")
                let info = try await client.execute(request, timeout: .seconds(10))
                #expect(info.status == .ok && info.version == .http2)
                _ = try await info.body.collect(upTo: 1 << 20)
                let anonymous = try await client.execute(HTTPClientRequest(url: "\(url)/cluster-info"), timeout: .seconds(10))
                #expect(anonymous.status == .unauthorized)
                _ = try await anonymous.body.collect(upTo: 1 << 20)
                #expect(try await Self.curl("\(url)/readyz", ["--http2"]) == "2 200")
                #expect(try await Self.curl("\(url)/readyz", ["--http1.1"]) == "1.1 200")
                // Plain HTTP on the HTTPS port is refused, not answered in the clear.
                let clear = try await runCommandDetached("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "\(plain)/healthz"])
                #expect(clear.stdoutText != "200")

                // WebSocket over wss:// (HTTP/1.1 upgrade).
                let frames = Mutex<[String]>([])
                try await WebSocketClient.connect(url: "wss://localhost:\(port)/ws/cluster-info?token=\(admin)", tlsConfiguration: tls,
                                                  logger: Logger(label: "test.wss")) { inbound, outbound, _ in
                    var iterator = inbound.messages(maxSize: 1 << 22).makeAsyncIterator()
                    if case .text(let first) = try await iterator.next() { frames.withLock { $0.append(first) } }
                    try await outbound.close(.normalClosure, reason: nil)
                }
                #expect(frames.withLock { $0.first?.contains(#""nodes""#) } == true)

                // SSE over HTTP/2, kept open across a rotation of the serving certificate.
                let stream = try await client.execute(HTTPClientRequest(url: "\(url)/sse/cluster-info?token=\(admin)"), timeout: .seconds(60))
                #expect(stream.status == .ok && stream.version == .http2)
                var events = stream.body.makeAsyncIterator()
                var received = ""
                func nextEvent() async throws -> String {
                    while true {
                        if let end = received.range(of: "\n\n") {
                            let event = String(received[..<end.upperBound])
                            received.removeSubrange(..<end.upperBound)
                            if event.hasPrefix("data:") { return event }
                            continue
                        }
                        guard let chunk = try await events.next() else { throw ServingTestError("the stream ended") }
                        received += String(buffer: chunk)
                    }
                }
                #expect(try await nextEvent().contains(#""nodes""#))

                try certificates.issue(commonName: "rotated", certificate: certificate, key: key)
                let subject = try await eventually(.seconds(30), "the rotated certificate served") {
                    let subject = try await Self.presentedSubject(port: port)
                    return subject.hasSuffix("CN = rotated") ? subject : nil
                }
                #expect(subject.hasSuffix("CN = rotated"))
                // The stream opened under the first certificate still delivers.
                let after = try await nextEvent()
                #expect(after.contains(#""nodes""#))
                #expect(try await Self.curl("\(url)/readyz", ["--http2"]) == "2 200")

                // A broken key keeps the rotated pair (the log says so, the metric counts it).
                @Sendable func failures() -> Int { aggregator.log.components(separatedBy: "tls certificate reload failed").count - 1 }
                let failedBefore = failures()
                try "not a key".write(toFile: key, atomically: true, encoding: .utf8)
                _ = try await eventually(.seconds(30), "the failed reload logged") { failures() > failedBefore ? true : nil }
                // The watcher may try the broken pair again while this runs: the count is
                // between the failures logged before the scrape and those logged after it.
                let loggedBefore = failures()
                var scrape = HTTPClientRequest(url: "\(url)/metrics")
                scrape.headers.add(name: "Authorization", value: "Bearer \(admin)")
                let metrics = String(buffer: try await client.execute(scrape, timeout: .seconds(10)).body.collect(upTo: 1 << 24))
                #expect(metrics.contains(#"clustermon_tls_certificate_reloads_total{outcome="reloaded"} 1"#))
                let failedLine = metrics.split(separator: "\n").first { $0.hasPrefix(#"clustermon_tls_certificate_reloads_total{outcome="failed"} "#) }
                let failedCount = failedLine.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
                #expect(failedCount >= loggedBefore, "\(failedLine ?? "no failed count") with \(loggedBefore) logged before")
                // (The metric counts before the line is logged: each failure counted is logged.)
                _ = try await eventually(.seconds(10), "each failure counted is logged") { failures() >= failedCount ? true : nil }
                #expect(metrics.contains("clustermon_tls_certificate_not_after_seconds "))
                #expect(try await Self.presentedSubject(port: port).hasSuffix("CN = rotated"))
                #expect(!aggregator.log.contains("BEGIN"), "no key material in the log")
            }
        }
    }
}

struct ServingTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

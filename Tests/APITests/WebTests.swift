import Foundation
import HTTPTypes
import Hummingbird
import Logging
import HummingbirdTesting
import NIOCore
import Messaging
import Kubernetes
import Prometheus
import Testing
import TestSupport
@testable import API
@testable import Aggregator

private let secret = "web-secret-of-32-bytes-or-more-xyz"
private let verifier = JWTVerifier(secret: secret)

/// The web UI's files and its session, at the router (the browser's view is
/// `WebUITests`, in a real Chromium).
@Suite("Web UI: files, headers and sessions")
final class WebTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-web-\(UUID().uuidString)")
    let history: HistoryStore

    init() throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        history = try HistoryStore(path: directory.appendingPathComponent("history.sqlite").path, logger: Logger(label: "test"))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func app(credentials: Bool = true, tls: Bool = false) -> some ApplicationProtocol {
        var configuration = APIConfiguration(address: ListenAddress(host: "127.0.0.1", port: 0), registry: PrometheusCollectorRegistry(), jwtSecret: secret)
        configuration.kubeAppCredentials = credentials ? KubeAppCredentials(username: "billing", password: "s3cret") : nil
        configuration.live = Observed(LiveFrame(view: LiveViewBuilder().build(version: 1, now: 1_700_000_000, nodes: [], cluster: nil)))
        configuration.history = history
        return Application(router: buildRouter(configuration))
    }

    static func expectSecurityHeaders(_ fields: HTTPFields, _ path: String) {
        let policy = fields[.contentSecurityPolicy] ?? ""
        #expect(policy.contains("default-src 'self'") && policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"), "\(path): \(policy)")
        #expect(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"), "\(path)")
        #expect(fields[.xContentTypeOptions] == "nosniff", "\(path)")
        #expect(fields[HTTPField.Name("Referrer-Policy")!] == "no-referrer", "\(path)")
    }

    @Test func theRootRedirectsAndEveryWebPathIsTheShell() async throws {
        try await app().test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .found && response.headers[.location] == "/web/")
                Self.expectSecurityHeaders(response.headers, "/")
            }
            for path in ["/web", "/web/", "/web/nodes", "/web/pods/compute-u1-web/web-0", "/web/stats/cpu/usage_rate/shop", "/web/login?next=%2Fweb%2F"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok, "\(path)")
                    #expect(response.headers[.contentType] == "text/html; charset=utf-8", "\(path)")
                    let html = String(buffer: response.body)
                    #expect(html.contains(#"<script type="module" src="/web/assets/app.js">"#), "\(path)")
                    // No inline script or style: the policy would block them.
                    #expect(!html.contains("<script>") && !html.contains("style="), "\(path)")
                    Self.expectSecurityHeaders(response.headers, path)
                }
            }
            try await client.execute(uri: "/web/assets/nothing.js", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test func filesAreCompressedAndRevalidatedByETag() async throws {
        try await app().test(.router) { client in
            for (name, type) in [("app.js", "text/javascript"), ("views.js", "text/javascript"), ("charts.js", "text/javascript"), ("rows.js", "text/javascript"), ("app.css", "text/css"), ("icon.svg", "image/svg+xml")] {
                let path = "/web/assets/\(name)"
                let (plain, etag) = try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix(type) == true, "\(path)")
                    #expect(response.headers[.contentEncoding] == nil, "\(path)")
                    return (Array(buffer: response.body), response.headers[.eTag] ?? "")
                }
                #expect(etag.hasPrefix("\"") && etag.count > 10, "\(path)")
                try await client.execute(uri: path, method: .get, headers: [.acceptEncoding: "gzip, deflate, br"]) { response in
                    #expect(response.headers[.contentEncoding] == "gzip", "\(path)")
                    #expect(response.body.readableBytes < plain.count, "\(path)")
                    // gzip's magic number.
                    #expect(Array(buffer: response.body).prefix(2) == [0x1f, 0x8b], "\(path)")
                }
                try await client.execute(uri: path, method: .get, headers: [.acceptEncoding: "gzip;q=0"]) { response in
                    #expect(response.headers[.contentEncoding] == nil, "\(path): gzip;q=0 refuses gzip")
                }
                try await client.execute(uri: path, method: .head) { response in
                    #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix(type) == true && response.headers[.eTag] == etag, "HEAD \(path)")
                }
                try await client.execute(uri: path, method: .get, headers: [.ifNoneMatch: etag]) { response in
                    #expect(response.status == .notModified && response.body.readableBytes == 0, "\(path)")
                }
            }
        }
    }

    /// The assets decompress to what was embedded (the gzip stream is whole).
    @Test func gzipRoundTrips() throws {
        let text = Array(String(repeating: "clustermon web ", count: 2000).utf8)
        let compressed = try #require(WebController.gzip(text))
        #expect(compressed.count < text.count / 10)
        let result = try runCommand("/bin/sh", ["-c", "printf '%s' \"$0\" | base64 -d | gzip -dc | wc -c", Data(compressed).base64EncodedString()])
        #expect(result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "\(text.count)")
    }

    static func cookie(_ fields: HTTPFields) -> String? {
        guard let line = fields[.setCookie], let range = line.range(of: "clustermon_session=") else { return nil }
        return String(line[range.upperBound...].prefix { $0 != ";" })
    }

    @Test func aTokenBecomesAnHttpOnlySessionCookieForReadsOnly() async throws {
        let user = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(600))
        try await app().test(.router) { client in
            let (session, line) = try await client.execute(uri: "/api/session", method: .post, headers: [.contentType: "application/json"],
                                                           body: ByteBuffer(string: #"{"token":"\#(user)"}"#)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""user_id":"u1""#))
                return (Self.cookie(response.headers), response.headers[.setCookie] ?? "")
            }
            let value = try #require(session)
            #expect(line.contains("HttpOnly") && line.contains("SameSite=Strict") && line.contains("Path=/") && !line.contains("Secure"))
            // Never longer than the token it came from (600 s).
            let maxAge = try #require(line.split(separator: ";").first { $0.contains("Max-Age=") }.flatMap { Int($0.split(separator: "=")[1]) })
            #expect(maxAge <= 600 && maxAge > 500)
            try await client.execute(uri: "/api/session", method: .get, headers: [.cookie: "other=1; clustermon_session=\(value)"]) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains(#""admin":false,"api_server":false"#), "no API server in this configuration: no resources to ask for")
            }
            try await client.execute(uri: "/pod-metrics", method: .get, headers: [.cookie: "clustermon_session=\(value)"]) { #expect($0.status == .ok) }
            // The user's session is a user's: no admin data.
            try await client.execute(uri: "/cluster-info", method: .get, headers: [.cookie: "clustermon_session=\(value)"]) { #expect($0.status == .forbidden) }
            // A request that is not a read needs the token in the header: the cookie alone is not enough.
            try await client.execute(uri: "/api/v2/allocation", method: .post, headers: [.cookie: "clustermon_session=\(value)", .contentType: "application/json"],
                                     body: ByteBuffer(string: "{}")) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/session", method: .get, headers: [.cookie: "clustermon_session=\(value)x"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/session", method: .delete) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.setCookie]?.hasPrefix("clustermon_session=;") == true && response.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
        }
    }

    @Test func signInRefusals() async throws {
        let expired = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(-3600))
        let foreign = try JWTVerifier(secret: "another-secret-of-32-bytes-or-more").sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        try await app().test(.router) { client in
            let cases: [(HTTPFields, String, HTTPResponse.Status)] = [
                ([.contentType: "application/json"], #"{"token":"\#(expired)"}"#, .unauthorized),
                ([.contentType: "application/json"], #"{"token":"\#(foreign)"}"#, .unauthorized),
                ([.contentType: "application/json"], #"{"username":"billing","password":"wrong"}"#, .unauthorized),
                ([.contentType: "application/json"], #"{"username":"billing"}"#, .badRequest),
                ([.contentType: "application/json"], #"{"token":"x","username":"billing","password":"s3cret"}"#, .badRequest),
                ([.contentType: "application/json"], #"{"token":7}"#, .badRequest),
                ([.contentType: "application/json"], #"{"tokens":"x"}"#, .badRequest),
                ([.contentType: "application/json"], "not json", .badRequest),
                // A form (what a page of another site can post) is refused before anything is read.
                ([.contentType: "application/x-www-form-urlencoded"], "token=x", .unsupportedMediaType),
                ([:], #"{"token":"x"}"#, .unsupportedMediaType),
            ]
            for (fields, body, expected) in cases {
                try await client.execute(uri: "/api/session", method: .post, headers: fields, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == expected, "\(body)")
                    #expect(response.headers[.setCookie] == nil, "\(body)")
                }
            }
            let admin = try await client.execute(uri: "/api/session", method: .post, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"username":"billing","password":"s3cret"}"#)) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains(#""admin":true"#))
                return Self.cookie(response.headers)
            }
            try await client.execute(uri: "/cluster-info", method: .get, headers: [.cookie: "clustermon_session=\(try #require(admin))"]) { #expect($0.status == .ok) }
        }
        // Without API_USERNAME/API_PASSWORD there is no password sign-in.
        try await app(credentials: false).test(.router) { client in
            try await client.execute(uri: "/api/session", method: .post, headers: [.contentType: "application/json"],
                                     body: ByteBuffer(string: #"{"username":"billing","password":"s3cret"}"#)) { #expect($0.status == .unauthorized) }
        }
    }
}

import API
import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

@Suite("clustermon aggregator as a process", .serialized)
struct AggregatorProcessTests {
    @Test func watchesTheAPIServerAndServesResourcesAndHeartbeat() async throws {
        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let api = FakeAPIServer()
        api.upsert(.namespaces, #"{"metadata":{"name":"compute-u1-web","labels":{"clustermon.io/owner":"u1"}}}"#)
        api.upsert(.pods, #"{"metadata":{"name":"web-1","namespace":"compute-u1-web","managedFields":[{}]},"spec":{"nodeName":"n1"}}"#)
        api.upsert(.pods, #"{"metadata":{"name":"dns","namespace":"kube-system"},"spec":{"nodeName":"n1"}}"#)
        api.upsert(.deployments, #"{"metadata":{"name":"shop","namespace":"compute-u1-web"},"spec":{"replicas":1},"status":{"readyReplicas":1,"conditions":[{"type":"Available","status":"True"}]}}"#)
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-api-token-\(UUID().uuidString)")
        try api.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        let secret = "aggregator-test-secret-of-32-bytes!"
        // Its own history directory, not the default /var/lib/clustermon.
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-aggregator-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let admin = try JWTVerifier(secret: secret).sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        let user = try JWTVerifier(secret: secret).sign(userID: "u1", isAdmin: false, ttl: .seconds(600))

        try await withLocalServer(api.router(), tls: true) { endpoint in
            let aggregator = try ClustermonProcess(
                ["aggregator", "-addr", "127.0.0.1:0", "-api-server", endpoint.baseURL, "--api-token-file", tokenFile.path, "--data-dir", dataDir,
                 "--api-ca", try TestCertificates.get().caCertificate, "-nats", nats.url],
                environment: ["JWT_SECRET": secret, "AUTH_TOKEN_BASIC": "beat"])
            let log = try await withTimeout(.seconds(60), "nine informers synced") { await aggregator.waitForLog("informer synced", count: 9) }
            let listening = try await withTimeout(.seconds(30), "listening") { await aggregator.waitForLog("http listening") }
            let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: listening), "\(log)")
            #expect(!log.contains(secret))

            let ready = try await HTTPClient.shared.get(url: "\(url)/readyz").get()
            #expect(ready.status == .ok, "\(ready.body.map { String(buffer: $0) } ?? "")")
            var request = HTTPClientRequest(url: "\(url)/api/resources/pods")
            request.headers.add(name: "Authorization", value: "Bearer \(admin)")
            let all = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let allBody = String(buffer: try await all.body.collect(upTo: 1 << 20))
            #expect(all.status == .ok)
            #expect(allBody.contains(#""name":"dns""#) && allBody.contains(#""name":"web-1""#))
            #expect(!allBody.contains("managedFields"))
            let mine = try await HTTPClient.shared.get(url: "\(url)/pods?token=\(user)").get()
            let mineBody = mine.body.map { String(buffer: $0) } ?? ""
            #expect(mineBody.contains("web-1") && !mineBody.contains("dns"))
            let beat = try await HTTPClient.shared.get(url: "\(url)/api/healthz/compute-u1-web/deployment/shop?token=beat").get()
            #expect(beat.status == .ok)
            #expect(beat.headers.first(name: "X-RateLimit-Limit") == "3600")

            aggregator.signal(SIGTERM)
            let status = try await withTimeout(.seconds(30), "exit") { await aggregator.waitForExit() }
            #expect(status == 0, "\(aggregator.log)")
        }
    }
}

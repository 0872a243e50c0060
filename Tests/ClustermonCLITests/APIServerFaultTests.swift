import API
import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

/// The API server failing under a running aggregator: every list and watch answered 500,
/// then lists served but every watch 410 (a resourceVersion it cannot serve). The
/// informers back off instead of hammering it, the cached objects are still served, the
/// aggregator stays ready and `/readyz` and `/metrics` say what is failing; once the API
/// server answers again, the cache catches up and the note goes.
@Suite("API server faults under the aggregator", .serialized)
struct APIServerFaultTests {
    @Test func errorsAndExpirationsBackOffAndTheCacheIsServed() async throws {
        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let api = FakeAPIServer()
        api.upsert(.namespaces, #"{"metadata":{"name":"shop"}}"#)
        api.upsert(.pods, #"{"metadata":{"name":"web-1","namespace":"shop"},"spec":{"nodeName":"n1"}}"#)
        let launch = try AggregatorLaunch(apiToken: api.token)
        let secret = "fault-test-secret-of-32-bytes-xyz"
        let admin = try JWTVerifier(secret: secret).sign(userID: "root", isAdmin: true, ttl: .seconds(600))

        try await withLocalServer(api.router(), tls: true) { endpoint in
            let aggregator = try launch.start(apiServer: endpoint.baseURL, nats: nats.url, secret: secret)
            try await stopping([aggregator]) {
                _ = try await withTimeout(.seconds(60), "nine informers synced") { await aggregator.waitForLog("informer synced", count: 9) }
                let url = try await AggregatorLaunch.url(of: aggregator)
                // Ready once NATS is connected too.
                let ready = try await readyBody(url, within: .seconds(60))
                #expect(ready == "ok\n")

                // Every list and watch fails with 500 (open watches are cut).
                api.fail(lists: 500, watches: 500)
                api.dropWatches()
                let requestsBefore = api.requests.count
                try await Task.sleep(for: .seconds(6))
                // Backing off from 0.5 s and doubling: at most five attempts per informer in 6 s;
                // retrying at once would make thousands.
                let failedRequests = api.requests.count - requestsBefore
                #expect(failedRequests <= 9 * 6, "\(failedRequests) requests in 6 s")
                let pods = try await httpGet("\(url)/api/resources/pods", bearer: admin)
                #expect(pods.status == 200 && pods.body.contains(#""name":"web-1""#), "the cache is served: \(pods.body)")
                let degraded = try await httpGet("\(url)/readyz")
                #expect(degraded.status == 200, "the cache still serves: ready")
                #expect(degraded.body.hasPrefix("ok\ninformers: degraded: "), "\(degraded.body)")
                #expect(degraded.body.contains("pods failing for") && degraded.body.contains("HTTP 500") && degraded.body.contains("serving the cached objects"), "\(degraded.body)")
                let metrics = try await httpGet("\(url)/metrics").body
                let failing = metrics.split(separator: "\n").first { $0.hasPrefix(#"clustermon_informer_failing_seconds{kind="pods"}"#) }
                #expect(failing.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 > 0 } == true, "\(failing ?? "no gauge")")

                // Lists answer, every watch is 410: listing again cannot cure it, so it backs off too.
                api.fail(lists: nil, watches: 410)
                // Each informer meets it once its backoff from the 500s has run out.
                _ = try await eventually(.seconds(60), "the 410s in /readyz") { try await httpGet("\(url)/readyz").body.contains("HTTP 410") ? true : nil }
                let listsBefore = api.listCount
                try await Task.sleep(for: .seconds(6))
                let lists = api.listCount - listsBefore
                #expect(lists <= 9 * 4, "\(lists) lists in 6 s while every watch expires")

                // The API server is back: the cache catches up and the note goes.
                api.fail(lists: nil, watches: nil)
                api.upsert(.pods, #"{"metadata":{"name":"web-2","namespace":"shop"},"spec":{"nodeName":"n1"}}"#)
                let recovered = try await eventually(.seconds(90), "web-2 in the cache and /readyz whole", every: .milliseconds(500)) {
                    let pods = try await httpGet("\(url)/api/resources/pods", bearer: admin).body
                    let ready = try await httpGet("\(url)/readyz").body
                    return pods.contains(#""name":"web-2""#) && ready == "ok\n" ? ready : nil
                }
                #expect(recovered == "ok\n")
                #expect(aggregator.log.contains("informer recovered"))
                #expect(!aggregator.log.contains(api.token), "the API token is never logged")
            }
        }
    }
}

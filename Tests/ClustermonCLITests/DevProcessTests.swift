import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

@Suite("clustermon dev as a process")
struct DevProcessTests {
    @Test func startsServesHealthAndStopsCleanlyOnInterrupt() async throws {
        let dev = try ClustermonProcess(["dev", "--addr", "127.0.0.1:0"])
        let log = try await withTimeout(.seconds(30), "dev to listen") { await dev.waitForLog("http listening") }
        let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: log), "no listening line in:\n\(log)")
        #expect(url.hasPrefix("http://127.0.0.1:"))

        let health = try await HTTPClient.shared.get(url: "\(url)/healthz").get()
        #expect(health.status == .ok)
        #expect(health.body.map { String(buffer: $0) } == "ok")
        let metrics = try await HTTPClient.shared.get(url: "\(url)/metrics").get()
        #expect(metrics.status == .ok)
        #expect(metrics.headers.first(name: "content-type")?.hasPrefix("text/plain") == true)
        let ready = try await HTTPClient.shared.get(url: "\(url)/readyz").get()
        #expect(ready.status == .ok)

        dev.signal(SIGINT)
        let status = try await withTimeout(.seconds(30), "dev to exit") { await dev.waitForExit() }
        #expect(status == 0, "exit status \(status); log:\n\(dev.log)")
        #expect(dev.log.contains("clustermon dev stopped"))
    }

    @Test func versionPrintsTheVersion() async throws {
        let version = try ClustermonProcess(["version"])
        #expect(await version.waitForExit() == 0)
        let log = await version.waitForLog("clustermon ")
        #expect(log.hasPrefix("clustermon 0."))
    }
}

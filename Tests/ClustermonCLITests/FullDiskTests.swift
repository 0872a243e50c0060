import API
import AsyncHTTPClient
import Foundation
import Testing
import TestSupport

/// The history's volume filling up under a real `clustermon dev`: writes fail and are
/// counted, live views go on, and writes resume once space returns. The volume is a small
/// tmpfs mounted for the test (the tests run as root, as CI does).
@Suite("a full data volume", .serialized)
struct FullDiskTests {
    let secret = "full-disk-test-secret-of-32-bytes-plus"

    func get(_ url: String) async throws -> String {
        let response = try await HTTPClient.shared.get(url: url).get()
        return response.body.map { String(buffer: $0) } ?? ""
    }

    func metric(_ text: String, _ name: String) -> Double {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) } ?? 0
    }

    @Test func historyWritesFailAreCountedAndResumeWhileLiveViewsGoOn() async throws {
        let volume = try SmallVolume(megabytes: 8)
        let mount = volume.path
        let dev = try ClustermonProcess(["dev", "--addr", "127.0.0.1:0", "--data-dir", mount, "--interval", "1s", "--refresh", "1s",
                                         "--simulate", "10", "--simulate-pods", "20"], environment: ["JWT_SECRET": secret])
        defer { dev.signal(SIGKILL) }
        let log = try await withTimeout(.seconds(60), "dev to listen") { await dev.waitForLog("http listening") }
        let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: log))
        let admin = try JWTVerifier(secret: secret).sign(userID: "root", isAdmin: true, ttl: .seconds(600))

        let filler = try volume.fill()

        // Appends fail and are counted; the live views go on.
        let failing = try await withTimeout(.seconds(60), "history failures counted") {
            while true {
                let text = try await get("\(url)/metrics")
                if metric(text, "clustermon_history_failures_total") > 0 { return text }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        #expect(metric(failing, "clustermon_history_failures_total") > 0)
        let first = try await get("\(url)/cluster-info?token=\(admin)")
        let refreshed = try await withTimeout(.seconds(30), "a later live view") {
            while true {
                let info = try await get("\(url)/cluster-info?token=\(admin)")
                if info != first, info.contains("sim-node-0009") { return info }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        #expect(refreshed.contains(#""nodes":["#))

        // Space returns: appends succeed again (the failure count stops growing, appends grow).
        try FileManager.default.removeItem(atPath: filler)
        let freedAt = metric(try await get("\(url)/metrics"), "clustermon_history_samples_appended_total")
        try await withTimeout(.seconds(60), "appends after space returned") {
            while true {
                let text = try await get("\(url)/metrics")
                if metric(text, "clustermon_history_samples_appended_total") > freedAt { return }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
        dev.signal(SIGTERM)
        #expect(await dev.waitForExit() == 0, "\(dev.log.suffix(3000))")
        #expect(dev.log.contains("history append failed"))
        withExtendedLifetime(volume) {}
    }
}

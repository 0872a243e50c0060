import API
import Foundation
import Testing
import TestSupport

/// The web UI in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
/// driven by Selenium from PyPI: `scripts/setup.sh --tests`) against the real
/// `clustermon dev --simulate`: `Tests/web/ui_test.py` signs in each way (a pasted token,
/// `?token=`, Kube-App's username and password) and with bad credentials, renders every
/// page with data and no console error, sees live updates arrive, follows deep links,
/// checks the security headers, signs out, and checks that user `u1` never sees another
/// tenant's name (`compute-u10-app`, `compute-u11-app`, ...) in the DOM or in any response
/// the page received.
@Suite("Web UI in a real browser", .serialized)
struct WebUITests {
    static let secret = "web-ui-secret-of-at-least-32-bytes"

    @Test func everyPageAndEverySignInPathInChromium() async throws {
        let root = Fixtures.packageRoot
        let python = root.appendingPathComponent(".build-venv/bin/python").path
        try #require(FileManager.default.isExecutableFile(atPath: python), "run scripts/setup.sh --tests: it installs selenium into .build-venv")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"),
                     "run scripts/setup.sh --tests: it installs Debian's chromium and chromium-driver")
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-web-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let dev = try ClustermonProcess(["dev", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--simulate", "3", "--simulate-pods", "30",
                                         "--refresh", "1s", "--interval", "1s"],
                                        environment: ["JWT_SECRET": Self.secret, "API_USERNAME": "billing", "API_PASSWORD": "billing-password"])
        try await stopping([dev]) {
            let listening = try await withTimeout(.seconds(60), "listening") { await dev.waitForLog("http listening") }
            let url = try #require(ClustermonProcess.field("url", inLineWith: "http listening", of: listening))
            // A few refreshes, so that live views and history have points.
            try await Task.sleep(for: .seconds(4))
            let verifier = JWTVerifier(secret: Self.secret)
            let admin = try verifier.sign(userID: "root", isAdmin: true, ttl: .seconds(3600))
            let user = try verifier.sign(userID: "u1", isAdmin: false, ttl: .seconds(3600))
            let result = try await runCommandDetached(python, [
                root.appendingPathComponent("Tests/web/ui_test.py").path, url, admin, user,
                "compute-u1-app", "compute-u10-app,compute-u11-app,compute-u2-app,kube-system", "billing", "billing-password",
            ], directory: root)
            let output = result.stdoutText + result.stderr
            // The failing check and the page's state (the script stops at the first).
            let failure = output.range(of: "FAIL ").map { String(output[$0.lowerBound...].prefix(6000)) } ?? String(output.suffix(6000))
            #expect(result.status == 0, "\(failure)")
            #expect(output.contains("all checks passed"), "\(output.suffix(8000))")
            // The sign-ins refused and accepted are counted.
            let metrics = try await httpGet("\(url)/metrics").body
            #expect(metrics.contains(#"clustermon_web_sign_ins_total{outcome="refused"} 2"#), "\(metrics.split(separator: "\n").filter { $0.contains("sign_ins") })")
            #expect(!dev.log.contains(admin) && !dev.log.contains(user), "a token reached the log")
        }
    }
}

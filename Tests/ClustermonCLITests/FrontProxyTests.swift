import API
import Foundation
import Testing
import TestSupport

/// The aggregator as an aggregated API server: the API server's front proxy presents a
/// client certificate from the requestheader CA (read here from the
/// extension-apiserver-authentication ConfigMap) and names the user in headers; the
/// aggregator asks the API server (SubjectAccessReview) whether that user may read what
/// they ask. Read with kubectl itself and with the official Python client; refused: a
/// certificate of another CA, a name not allowed, no certificate, headers without one.
@Suite("metrics.k8s.io behind the API server's front proxy", .serialized)
struct FrontProxyTests {
    struct Files {
        let directory: URL
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    }

    /// A front-proxy CA with two client certificates (an allowed name and another), and a
    /// self-signed client certificate of no CA the aggregator knows.
    static func makeFiles() throws -> Files {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-front-proxy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func openssl(_ arguments: [String]) throws { try TestCertificates.openssl(arguments, in: directory) }
        try "extendedKeyUsage=clientAuth\n".write(to: directory.appendingPathComponent("client.ext"), atomically: true, encoding: .utf8)
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", "front-proxy-ca.key", "-out", "front-proxy-ca.crt", "-subj", "/CN=front-proxy-ca", "-days", "2"])
        for name in ["front-proxy-client", "intruder"] {
            try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
            try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "front-proxy-ca.crt", "-CAkey", "front-proxy-ca.key", "-CAcreateserial",
                         "-out", "\(name).crt", "-days", "2", "-extfile", "client.ext"])
        }
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", "stranger.key", "-out", "stranger.crt", "-subj", "/CN=front-proxy-client", "-days", "2"])
        try TestCertificates.get().issue(commonName: "clustermon", certificate: directory.appendingPathComponent("tls.crt").path,
                                         key: directory.appendingPathComponent("tls.key").path)
        return Files(directory: directory)
    }

    static let venv = Fixtures.packageRoot.appendingPathComponent(".build-venv/bin")

    /// curl with a client certificate and headers: the status, the body, curl's exit status.
    static func curl(_ url: String, certificate: String? = nil, key: String? = nil, headers: [String] = []) async throws -> (status: String, body: String, exit: Int32) {
        var options: [String] = []
        if let certificate, let key { options += ["--cert", certificate, "--key", key] }
        for header in headers { options += ["-H", header] }
        let answer = try await curlHTTPS(url, options)
        return (answer.out, answer.body, answer.exit)
    }

    static let pythonClient = """
        import json, sys
        from kubernetes import client
        host, cert, key, ca, user, namespace = sys.argv[1:7]
        configuration = client.Configuration()
        configuration.host, configuration.cert_file, configuration.key_file, configuration.ssl_ca_cert = host, cert, key, ca
        api = client.ApiClient(configuration)
        api.set_default_header("X-Remote-User", user)
        api.set_default_header("X-Remote-Group", "developers")
        objects = client.CustomObjectsApi(api)
        out = {}
        try:
            out["pods"] = [item["metadata"]["name"] for item in objects.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods")["items"]]
        except client.ApiException as error:
            out["pods"] = error.status
        try:
            out["nodes"] = len(objects.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"])
        except client.ApiException as error:
            out["nodes"] = error.status
        print(json.dumps(out))
        """

    @Test func kubectlAndThePythonClientThroughTheFrontProxyAndEveryRefusal() async throws {
        let files = try Self.makeFiles()
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let api = FakeAPIServer()
        api.setExtensionAuthentication([
            "requestheader-client-ca-file": try String(contentsOfFile: files.path("front-proxy-ca.crt"), encoding: .utf8),
            "requestheader-allowed-names": #"["front-proxy-client"]"#,
            "requestheader-username-headers": #"["X-Remote-User"]"#,
            "requestheader-group-headers": #"["X-Remote-Group"]"#,
            "requestheader-extra-headers-prefix": #"["X-Remote-Extra-"]"#,
        ])
        // The front proxy's own name may read everything; alice (developers) the pods of
        // kube-system; nobody else anything.
        api.authorize { user, groups, attributes in
            if user == "front-proxy-client" { return true }
            return user == "alice" && groups == ["developers"] && attributes["resource"] == "pods" && attributes["namespace"] == "kube-system"
        }
        let launch = try AggregatorLaunch(apiToken: api.token)
        let secret = "front-proxy-secret-of-32-bytes-xy"
        let admin = try JWTVerifier(secret: secret).sign(userID: "root", isAdmin: true, ttl: .seconds(600))
        let user = try JWTVerifier(secret: secret).sign(userID: "u1", isAdmin: false, ttl: .seconds(600))

        try await withLocalServer(api.router(), tls: true) { endpoint in
            let aggregator = try launch.start(apiServer: endpoint.baseURL, nats: nats.url, secret: secret, arguments: [
                "--refresh", "1s", "--tls-cert-file", files.path("tls.crt"), "--tls-private-key-file", files.path("tls.key")])
            let simulated = try ClustermonProcess(["simulate", "--nodes", "2", "--pods", "3", "--interval", "1s", "--nats", nats.url])
            try await stopping([simulated, aggregator]) {
                let url = try await AggregatorLaunch.url(of: aggregator)
                #expect(aggregator.log.contains("front-proxy authentication on metrics.k8s.io"))
                let nodes = "\(url)/apis/metrics.k8s.io/v1beta1/nodes"
                // Both simulated nodes have usage (two snapshots each).
                _ = try await eventually(.seconds(60), "node metrics", every: .milliseconds(500)) {
                    let answer = try await httpGet(nodes, bearer: admin, tls: true)
                    return answer.body.components(separatedBy: "sim-node-").count - 1 >= 2 ? true : nil
                }

                // kubectl, with the front proxy's certificate (its own name: no user headers).
                let home = files.directory.path
                func kubectl(_ path: String) async throws -> CommandResult {
                    try await runCommandDetached("env", ["HOME=\(home)", Self.venv.appendingPathComponent("kubectl").path, "get", "--raw", path,
                                                         "--server", url, "--client-certificate", files.path("front-proxy-client.crt"),
                                                         "--client-key", files.path("front-proxy-client.key"),
                                                         "--certificate-authority", try TestCertificates.get().caCertificate])
                }
                let kubectlNodes = try await kubectl("/apis/metrics.k8s.io/v1beta1/nodes")
                #expect(kubectlNodes.status == 0, "\(kubectlNodes.stderr)")
                let nodeList = try JSONSerialization.jsonObject(with: kubectlNodes.stdout) as? [String: Any]
                #expect(nodeList?["kind"] as? String == "NodeMetricsList")
                #expect(((nodeList?["items"] as? [[String: Any]]) ?? []).count >= 2)
                let kubectlPods = try await kubectl("/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods")
                #expect(kubectlPods.status == 0, "\(kubectlPods.stderr)")
                #expect(kubectlPods.stdoutText.contains(#""kind":"PodMetricsList""#) && kubectlPods.stdoutText.contains("pod-0-0"))

                // The official Python client, naming the user as the API server does.
                func python(_ name: String) async throws -> [String: Any] {
                    let result = try await runCommandDetached(Self.venv.appendingPathComponent("python").path, [
                        "-c", Self.pythonClient, url, files.path("front-proxy-client.crt"), files.path("front-proxy-client.key"),
                        try TestCertificates.get().caCertificate, name, "kube-system"])
                    #expect(result.status == 0, "\(result.stderr)")
                    return (try? JSONSerialization.jsonObject(with: result.stdout) as? [String: Any]) ?? [:]
                }
                let alice = try await python("alice")
                #expect(Set(alice["pods"] as? [String] ?? []) == ["pod-0-0", "pod-1-0"], "\(alice)")
                #expect(alice["nodes"] as? Int == 403, "alice may not read nodes: \(alice)")
                let bob = try await python("bob")
                #expect(bob["pods"] as? Int == 403 && bob["nodes"] as? Int == 403, "\(bob)")
                // What the aggregator asked the API server.
                let review = try #require(api.reviews.first { $0.contains(#""user":"alice""#) && $0.contains(#""resource":"pods""#) })
                #expect(review.contains(#""groups":["developers"]"#) && review.contains(#""group":"metrics.k8s.io""#)
                        && review.contains(#""verb":"list""#) && review.contains(#""namespace":"kube-system""#), "\(review)")

                // Refused: a name the ConfigMap does not allow (headers ignored, no JWT: 401).
                let intruder = try await Self.curl(nodes, certificate: files.path("intruder.crt"), key: files.path("intruder.key"), headers: ["X-Remote-User: front-proxy-client"])
                #expect(intruder.status == "401" && intruder.body.contains(#""kind":"Status""#), "\(intruder)")
                // A certificate of another CA: the handshake fails.
                let stranger = try await Self.curl(nodes, certificate: files.path("stranger.crt"), key: files.path("stranger.key"))
                #expect(stranger.exit != 0 && stranger.status != "200", "\(stranger)")
                // No certificate: the front proxy's headers mean nothing; a JWT is needed.
                let noCertificate = try await Self.curl(nodes, headers: ["X-Remote-User: front-proxy-client"])
                #expect(noCertificate.status == "401")
                let spoofing = try await Self.curl(nodes, headers: ["X-Remote-User: front-proxy-client", "Authorization: Bearer \(user)"])
                #expect(spoofing.status == "403", "a user's JWT with front-proxy headers stays that user")
                let withJWT = try await Self.curl(nodes, headers: ["Authorization: Bearer \(admin)"])
                #expect(withJWT.status == "200", "an admin JWT still reads metrics.k8s.io")
                #expect(!aggregator.log.contains(api.token) && !aggregator.log.contains(admin))
            }
        }
    }

    /// `--requestheader-client-ca-file` is re-read with the serving pair: the API server's
    /// front-proxy CA rotates, and the new one's client certificate is taken without a restart
    /// (a file that is not a CA bundle leaves the one in use).
    @Test func theRequestheaderCAFileIsReloadedWhenItChanges() async throws {
        let files = try Self.makeFiles()
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let caFile = files.path("requestheader-ca.crt")
        // At start, a CA that did not sign the front proxy's certificate.
        try FileManager.default.copyItem(atPath: try TestCertificates.otherCA.get(), toPath: caFile)
        let api = FakeAPIServer()
        api.authorize { user, _, _ in user == "front-proxy-client" }
        try await Self.withHTTPSAggregator(files, api, arguments: ["--requestheader-client-ca-file", caFile, "--requestheader-allowed-names", "front-proxy-client"]) { aggregator, url, asFrontProxy in
            let before = try await asFrontProxy()
            #expect(before.exit != 0 && before.status != "200", "a certificate of a CA not (yet) trusted: \(before)")
            // Half-written: not a CA bundle. The CA in use stays; the failure is counted.
            try "-----BEGIN CERTIFICATE-----\nnot base64\n".write(toFile: caFile, atomically: true, encoding: .utf8)
            _ = try await eventually(.seconds(20), "the failed reload", every: .milliseconds(250)) {
                aggregator.log.contains("is not a PEM CA bundle") ? true : nil
            }
            // The rotation lands: the front proxy's certificate is now taken.
            try FileManager.default.removeItem(atPath: caFile)
            try FileManager.default.copyItem(atPath: files.path("front-proxy-ca.crt"), toPath: caFile)
            let after = try await eventually(.seconds(20), "the new requestheader CA in use", every: .milliseconds(250)) {
                let answer = try await asFrontProxy()
                return answer.status == "200" ? answer : nil
            }
            #expect(after.body.contains(#""groupVersion":"metrics.k8s.io/v1beta1""#), "\(after.body)")
            let metrics = try await httpGet("\(url)/metrics", tls: true).body
            #expect(metrics.contains(#"clustermon_tls_certificate_reloads_total{outcome="failed"}"#), "the bad CA file was counted")
            #expect(metrics.contains(#"clustermon_tls_certificate_reloads_total{outcome="reloaded"}"#))
        }
    }

    /// Without the flag, the ConfigMap's requestheader CA is re-read (every 10 s) and a
    /// rotated one is taken without a restart.
    @Test func theConfigMapsRequestheaderCAIsReReadWhenItChanges() async throws {
        let files = try Self.makeFiles()
        defer { try? FileManager.default.removeItem(at: files.directory) }
        let api = FakeAPIServer()
        api.setExtensionAuthentication([
            "requestheader-client-ca-file": try String(contentsOfFile: try TestCertificates.otherCA.get(), encoding: .utf8),
            "requestheader-allowed-names": #"["front-proxy-client"]"#,
        ])
        api.authorize { user, _, _ in user == "front-proxy-client" }
        try await Self.withHTTPSAggregator(files, api) { _, _, asFrontProxy in
            let before = try await asFrontProxy()
            #expect(before.exit != 0 && before.status != "200", "a certificate of a CA not (yet) trusted: \(before)")
            api.setExtensionAuthentication([
                "requestheader-client-ca-file": try String(contentsOfFile: files.path("front-proxy-ca.crt"), encoding: .utf8),
                "requestheader-allowed-names": #"["front-proxy-client"]"#,
            ])
            let after = try await eventually(.seconds(40), "the ConfigMap's new requestheader CA in use", every: .milliseconds(500)) {
                let answer = try await asFrontProxy()
                return answer.status == "200" ? answer : nil
            }
            #expect(after.body.contains(#""groupVersion":"metrics.k8s.io/v1beta1""#), "\(after.body)")
        }
    }

    /// An aggregator serving HTTPS (with `arguments`) against `api`, and the front proxy's
    /// request for metrics.k8s.io's discovery document with its client certificate.
    static func withHTTPSAggregator(
        _ files: Files, _ api: FakeAPIServer, arguments: [String] = [],
        _ body: @escaping @Sendable (ClustermonProcess, String, @escaping @Sendable () async throws -> (status: String, body: String, exit: Int32)) async throws -> Void
    ) async throws {
        let nats = try await NATSServer.start()
        defer { nats.stop() }
        let launch = try AggregatorLaunch(apiToken: api.token)
        try await withLocalServer(api.router(), tls: true) { endpoint in
            let aggregator = try launch.start(apiServer: endpoint.baseURL, nats: nats.url, secret: "front-proxy-secret-of-32-bytes-xy", arguments: [
                "--tls-cert-file", files.path("tls.crt"), "--tls-private-key-file", files.path("tls.key")] + arguments)
            try await stopping([aggregator]) {
                let url = try await AggregatorLaunch.url(of: aggregator)
                let discovery = "\(url)/apis/metrics.k8s.io/v1beta1"
                try await body(aggregator, url) {
                    try await Self.curl(discovery, certificate: files.path("front-proxy-client.crt"), key: files.path("front-proxy-client.key"))
                }
            }
        }
    }
}

import Foundation
import Logging
import Testing
import TestSupport
import KubernetesConfig
@testable import Kubernetes

@Suite("kubeconfig", .serialized)
struct KubeconfigTests {
    func write(_ text: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("clustermon-kubeconfig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("config").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func currentContextWithCADataAndTokenReachesTheServer() async throws {
        let server = FakeAPIServer()
        server.upsert(.pods, podJSON("a"))
        let ca = try Data(contentsOf: URL(fileURLWithPath: try TestCertificates.get().caCertificate)).base64EncodedString()
        try await withLocalServer(server.router(), tls: true) { endpoint in
            let path = try write("""
                apiVersion: v1
                kind: Config
                current-context: test
                clusters:
                - name: other
                  cluster: {server: "https://192.0.2.1:6443"}
                - name: local
                  cluster:
                    server: \(endpoint.baseURL)
                    certificate-authority-data: \(ca)
                users:
                - name: admin
                  user:
                    token: \(server.token)
                contexts:
                - name: test
                  context: {cluster: local, user: admin, namespace: default}
                """)
            let config = try APIServerConfig.kubeconfig(path: path)
            #expect(config.server == endpoint.baseURL)
            #expect(config.token == .value(server.token))
            let client = try APIClient(config: config)
            let body = try await client.get("/api/v1/pods?limit=10")
            #expect(String(buffer: body).contains(#""name":"a""#))
            try await client.shutdown()
        }
    }

    @Test func relativeFilesNamedContextAndInsecure() throws {
        let path = try write("""
            current-context: a
            clusters:
            - name: c
              cluster: {server: "https://10.0.0.1:6443", certificate-authority: certs/ca.crt, insecure-skip-tls-verify: true}
            users:
            - name: u
              user: {client-certificate: certs/client.crt, client-key: /abs/client.key, tokenFile: token}
            contexts:
            - {name: a, context: {cluster: c}}
            - {name: b, context: {cluster: c, user: u}}
            """)
        let directory = (path as NSString).deletingLastPathComponent
        let b = try APIServerConfig.kubeconfig(path: path, context: "b")
        #expect(b.tls.caFile == "\(directory)/certs/ca.crt")
        #expect(b.tls.insecureSkipVerify)
        #expect(b.tls.clientCertificateFile == "\(directory)/certs/client.crt")
        #expect(b.tls.clientKeyFile == "/abs/client.key")
        #expect(b.token == .file("\(directory)/token"))
        #expect(try APIServerConfig.kubeconfig(path: path).token == BearerToken.none)
    }

    @Test func clearErrors() throws {
        let plugin = try write("""
            current-context: a
            clusters: [{name: c, cluster: {server: "https://x"}}]
            users: [{name: u, user: {exec: {command: aws}}}]
            contexts: [{name: a, context: {cluster: c, user: u}}]
            """)
        #expect(throws: APIConfigError.self) { try APIServerConfig.kubeconfig(path: plugin) }
        do { _ = try APIServerConfig.kubeconfig(path: plugin) } catch { #expect("\(error)".contains("exec or auth-provider")) }
        #expect(throws: APIConfigError.self) { try APIServerConfig.kubeconfig(path: plugin, context: "missing") }
        #expect(throws: APIConfigError.self) { try APIServerConfig.kubeconfig(path: "/nonexistent/config") }
    }
}

import Foundation
import Kubernetes
import Yams

extension APIServerConfig {
    /// The current (or named) context of a kubeconfig file: server, bearer token (in-line or
    /// `tokenFile`), client certificate and key, CA (data or file), insecure-skip-tls-verify.
    /// Relative paths are relative to the file's directory, as kubectl reads them.
    /// Exec and auth-provider plugins are not run: use a token or a client certificate.
    public static func kubeconfig(path: String, context name: String? = nil) throws -> APIServerConfig {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw APIConfigError("cannot read kubeconfig \(path): \(error.localizedDescription)")
        }
        guard let root = try? Yams.load(yaml: text) as? [String: Any] else { throw APIConfigError("kubeconfig \(path) is not YAML") }
        let directory = (path as NSString).deletingLastPathComponent
        func named(_ list: String, _ name: String, _ key: String) throws -> [String: Any] {
            guard let entries = root[list] as? [[String: Any]], let entry = entries.first(where: { $0["name"] as? String == name }),
                  let body = entry[key] as? [String: Any] else { throw APIConfigError("kubeconfig \(path): no \(key) named \"\(name)\"") }
            return body
        }
        func file(_ value: Any?) -> String? {
            guard let path = value as? String, !path.isEmpty else { return nil }
            return path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
        }
        func data(_ value: Any?, _ what: String) throws -> [UInt8]? {
            guard let text = value as? String, !text.isEmpty else { return nil }
            guard let bytes = Data(base64Encoded: text, options: .ignoreUnknownCharacters) else {
                throw APIConfigError("kubeconfig \(path): \(what) is not base64")
            }
            return [UInt8](bytes)
        }

        guard let contextName = name ?? (root["current-context"] as? String), !contextName.isEmpty else {
            throw APIConfigError("kubeconfig \(path) has no current-context: pass --context")
        }
        let context = try named("contexts", contextName, "context")
        guard let clusterName = context["cluster"] as? String else { throw APIConfigError("kubeconfig \(path): context \(contextName) names no cluster") }
        let cluster = try named("clusters", clusterName, "cluster")
        guard let server = cluster["server"] as? String else { throw APIConfigError("kubeconfig \(path): cluster \(clusterName) has no server") }
        let user = try (context["user"] as? String).map { try named("users", $0, "user") } ?? [:]
        if user["exec"] != nil || user["auth-provider"] != nil {
            throw APIConfigError("kubeconfig \(path): user of context \(contextName) uses an exec or auth-provider plugin, which clustermon does not run; use a token or client certificate")
        }
        var token = BearerToken.none
        if let value = user["token"] as? String, !value.isEmpty { token = .value(value) } else if let tokenFile = file(user["tokenFile"]) { token = .file(tokenFile) }
        let tls = ClientTLS(
            caFile: file(cluster["certificate-authority"]),
            caPEM: try data(cluster["certificate-authority-data"], "certificate-authority-data"),
            insecureSkipVerify: cluster["insecure-skip-tls-verify"] as? Bool ?? false,
            clientCertificateFile: file(user["client-certificate"]),
            clientKeyFile: file(user["client-key"]),
            clientCertificatePEM: try data(user["client-certificate-data"], "client-certificate-data"),
            clientKeyPEM: try data(user["client-key-data"], "client-key-data"))
        return APIServerConfig(server: server, token: token, tls: tls)
    }
}

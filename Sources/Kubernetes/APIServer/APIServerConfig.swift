/// How to reach the API server.
public struct APIServerConfig: Sendable {
    public var server: String
    public var token: BearerToken
    public var tls: ClientTLS

    public init(server: String, token: BearerToken = .none, tls: ClientTLS = ClientTLS()) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.token = token
        self.tls = tls
    }

    public static let serviceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// In a pod: `KUBERNETES_SERVICE_HOST`/`PORT`, the service account's token (re-read on
    /// every request, so a rotated projected token is picked up) and CA.
    public static func inCluster(environment: [String: String], directory: String = serviceAccountDirectory) throws -> APIServerConfig {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw APIConfigError("not in a cluster (KUBERNETES_SERVICE_HOST is not set): pass --api-server or --kubeconfig")
        }
        let port = environment["KUBERNETES_SERVICE_PORT"].flatMap { $0.isEmpty ? nil : $0 } ?? "443"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return APIServerConfig(server: "https://\(hostPart):\(port)", token: .file("\(directory)/token"), tls: ClientTLS(caFile: "\(directory)/ca.crt"))
    }
}

public struct APIConfigError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

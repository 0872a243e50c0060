/// How to reach NATS. Secrets (password, token) never appear in `description`.
public struct NATSConfiguration: Sendable, CustomStringConvertible {
    /// One or more server URLs (`nats://host:4222`, `tls://host:4222`); comma-separated lists
    /// are split.
    public var servers: [String]
    /// Client name shown by the server's monitoring endpoints.
    public var name: String
    public var user: String?
    public var password: String?
    public var token: String?
    /// A `.creds` file (JWT + NKey seed), for accounts that limit an agent to its own subject.
    public var credentialsFile: String?
    /// CA bundle that signs the server certificate; setting it turns TLS on.
    public var tlsCAFile: String?
    /// Client certificate and key for mutual TLS.
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    /// Require TLS even without a custom CA (system trust store).
    public var tlsRequired: Bool
    /// Time between reconnect attempts; reconnection is attempted forever.
    public var reconnectWait: Duration
    /// Timeout of one connection attempt.
    public var connectTimeout: Duration
    /// Bytes of publishes buffered while disconnected; past it publish fails (and is counted).
    public var reconnectBufferBytes: Int

    public init(
        servers: [String] = ["nats://127.0.0.1:4222"],
        name: String = "clustermon",
        user: String? = nil,
        password: String? = nil,
        token: String? = nil,
        credentialsFile: String? = nil,
        tlsCAFile: String? = nil,
        tlsCertificateFile: String? = nil,
        tlsKeyFile: String? = nil,
        tlsRequired: Bool = false,
        reconnectWait: Duration = .seconds(2),
        connectTimeout: Duration = .seconds(5),
        reconnectBufferBytes: Int = 8 << 20
    ) {
        self.servers = servers.flatMap { $0.split(separator: ",").map { String($0).trimmingWhitespace() } }.filter { !$0.isEmpty }
        self.name = name
        self.user = user
        self.password = password
        self.token = token
        self.credentialsFile = credentialsFile
        self.tlsCAFile = tlsCAFile
        self.tlsCertificateFile = tlsCertificateFile
        self.tlsKeyFile = tlsKeyFile
        self.tlsRequired = tlsRequired
        self.reconnectWait = reconnectWait
        self.connectTimeout = connectTimeout
        self.reconnectBufferBytes = reconnectBufferBytes
    }

    public var description: String {
        var auth = "none"
        if credentialsFile != nil { auth = "creds-file" } else if token != nil { auth = "token" } else if user != nil { auth = "user/password" }
        let tls = tlsCAFile != nil || tlsRequired || servers.contains { $0.hasPrefix("tls://") }
        return "servers=\(servers.map(Self.redactingUserInfo).joined(separator: ",")) auth=\(auth) tls=\(tls)"
    }

    /// Removes `user:password@` from a URL so that it can be logged.
    static func redactingUserInfo(_ url: String) -> String {
        let parts = url.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let at = parts[1].firstIndex(of: "@") else { return url }
        return "\(parts[0])://***@\(parts[1][parts[1].index(after: at)...])"
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let first = s.first, first.isWhitespace { s = s.dropFirst() }
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}

extension Duration {
    /// Whole milliseconds, for C APIs that take `int64_t` milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whole nanoseconds, for C APIs that take nanoseconds.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

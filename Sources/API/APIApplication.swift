import Aggregator
import Foundation
import Hummingbird
import Logging
import Prometheus

/// Everything the HTTP face needs from the rest of the process.
public struct APIConfiguration: Sendable {
    public var address: ListenAddress
    public var serverName: String
    public var registry: PrometheusCollectorRegistry
    public var readiness: [any ReadinessCheck]
    /// The cluster cache; without it the resource and heartbeat routes are not served.
    public var cluster: (any ClusterView)?
    /// `JWT_SECRET`; without it every protected endpoint answers 401.
    public var jwtSecret: String?
    public var namespaceAccess: NamespaceAccess
    /// `AUTH_TOKEN_BASIC` of the deployment heartbeat.
    public var heartbeatToken: String?
    public var heartbeatRateLimit: Int
    public var heartbeatRatePeriod: Duration

    public init(address: ListenAddress, serverName: String = "clustermon", registry: PrometheusCollectorRegistry,
                readiness: [any ReadinessCheck] = [], cluster: (any ClusterView)? = nil, jwtSecret: String? = nil,
                namespaceAccess: NamespaceAccess = .init(), heartbeatToken: String? = nil,
                heartbeatRateLimit: Int = 3600, heartbeatRatePeriod: Duration = .seconds(3600)) {
        self.address = address
        self.serverName = serverName
        self.registry = registry
        self.readiness = readiness
        self.cluster = cluster
        self.jwtSecret = jwtSecret
        self.namespaceAccess = namespaceAccess
        self.heartbeatToken = heartbeatToken
        self.heartbeatRateLimit = heartbeatRateLimit
        self.heartbeatRatePeriod = heartbeatRatePeriod
    }
}

/// The router with every controller's routes: used by the server and by in-memory tests.
public func buildRouter(_ configuration: APIConfiguration, logger: Logger = Logger(label: "clustermon.api")) -> Router<APIContext> {
    let router = Router(context: APIContext.self)
    var heartbeat: HeartbeatController?
    if let cluster = configuration.cluster {
        let limiter = FixedWindowRateLimiter(limit: configuration.heartbeatRateLimit, period: configuration.heartbeatRatePeriod)
        heartbeat = HeartbeatController(cluster: cluster, token: configuration.heartbeatToken, limiter: limiter, now: { Int64(Date().timeIntervalSince1970) })
    }
    HealthController(checks: configuration.readiness, heartbeat: heartbeat).addRoutes(to: router)
    MetricsController(registry: configuration.registry).addRoutes(to: router)
    if let cluster = configuration.cluster, let heartbeat {
        let auth = Authenticator(verifier: JWTVerifier(secret: configuration.jwtSecret), logger: logger)
        ResourceController(cluster: cluster, auth: auth, access: configuration.namespaceAccess).addRoutes(to: router)
        heartbeat.addRoutes(to: router)
    }
    return router
}

/// The HTTP server as a `Service`; logs the address it actually bound (port 0 picks one).
public func buildApplication(_ configuration: APIConfiguration, logger: Logger) -> some ApplicationProtocol {
    Application(
        router: buildRouter(configuration, logger: logger),
        configuration: .init(address: .hostname(configuration.address.host, port: configuration.address.port), serverName: configuration.serverName),
        onServerRunning: { channel in
            let host = channel.localAddress?.ipAddress ?? configuration.address.host
            let port = channel.localAddress?.port ?? configuration.address.port
            let url = host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
            logger.info("http listening", metadata: ["url": "\(url)"])
        },
        logger: logger
    )
}

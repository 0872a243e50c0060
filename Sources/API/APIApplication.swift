import Aggregator
import Kubernetes
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import Messaging
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
    /// The live views; without them the live endpoints are not served.
    public var live: Observed<LiveFrame>?
    /// The dependency graph; without it the graph endpoints are not served.
    public var graph: ConnectionGraph?
    /// The agents' latest snapshots; without them metrics.k8s.io is not served.
    public var nodeSamples: (@Sendable () -> [NodeSample])?
    /// The history; without it the history endpoints are not served.
    public var history: HistoryStore?
    /// The refresh interval (raw history points are this far apart).
    public var refresh: Duration = .seconds(5)
    /// Open SSE and WebSocket streams allowed at once.
    public var maxStreams = 4096
    /// SSE keep-alive comment period.
    public var keepAlive: Duration = .seconds(15)
    /// Kube-App's `API_USERNAME`/`API_PASSWORD`: `X-USERNAME`/`X-PASSWORD` act as an admin
    /// on the Kube-App and allocation APIs.
    public var kubeAppCredentials: KubeAppCredentials?
    /// `--cluster-name`.
    public var clusterName = ""
    /// `--prices`: the allocation API shows costs only with a table.
    public var prices: PriceTable?
    /// `--tls-cert-file`/`--tls-private-key-file`: HTTPS (HTTP/2 and HTTP/1.1) instead of HTTP.
    public var tls: ServingCertificates?
    /// The API server's front proxy (requestheader authentication) on metrics.k8s.io.
    public var frontProxy: FrontProxyAuth?
    /// Unix milliseconds: the clock of the accounting APIs and of metrics.k8s.io's and
    /// /metrics/resource's staleness (tests fix it).
    public var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

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

extension APIConfiguration {
    /// What this configuration serves.
    public var features: Set<APIFeature> {
        var features: Set<APIFeature> = [.core]
        if cluster != nil { features.insert(.cluster) }
        if live != nil { features.insert(.live) }
        if graph != nil { features.insert(.graph) }
        if history != nil { features.insert(.history) }
        if nodeSamples != nil { features.insert(.metricsAPI) }
        return features
    }
}

/// The router with every controller's routes: used by the server and by in-memory tests.
public func buildRouter(_ configuration: APIConfiguration, logger: Logger = Logger(label: "clustermon.api")) -> Router<APIContext> {
    let router = Router(context: APIContext.self)
    let features = configuration.features
    router.add(middleware: MethodGuard(operations: OpenAPI.operations(serving: features)))
    var heartbeat: HeartbeatController?
    if let cluster = configuration.cluster {
        let limiter = FixedWindowRateLimiter(limit: configuration.heartbeatRateLimit, period: configuration.heartbeatRatePeriod)
        heartbeat = HeartbeatController(cluster: cluster, token: configuration.heartbeatToken, limiter: limiter, now: { Int64(Date().timeIntervalSince1970) })
    }
    HealthController(checks: configuration.readiness, heartbeat: heartbeat).addRoutes(to: router)
    MetricsController(registry: configuration.registry).addRoutes(to: router)
    OpenAPIController(features: features).addRoutes(to: router)
    let auth = Authenticator(verifier: JWTVerifier(secret: configuration.jwtSecret), logger: logger)
    let visibility = Visibility(cluster: configuration.cluster, access: configuration.namespaceAccess)
    var session = SessionController(auth: auth, credentials: configuration.kubeAppCredentials, secure: configuration.tls != nil, logger: logger)
    session.apiServer = configuration.cluster != nil
    session.addRoutes(to: router)
    WebController().addRoutes(to: router)
    if let cluster = configuration.cluster, let heartbeat {
        ResourceController(cluster: cluster, auth: auth, access: configuration.namespaceAccess).addRoutes(to: router)
        heartbeat.addRoutes(to: router)
    }
    let streams = StreamLimiter(limit: configuration.maxStreams)
    if let live = configuration.live {
        LiveController(live: live, auth: auth, visibility: visibility, limiter: streams,
                       keepAlive: configuration.keepAlive).addRoutes(to: router)
    }
    if let samples = configuration.nodeSamples {
        MetricsAPIController(samples: samples, cluster: configuration.cluster, auth: auth, visibility: visibility,
                             frontProxy: configuration.frontProxy, now: { Double(configuration.now()) / 1000 }).addRoutes(to: router)
        let edges = configuration.graph.map { graph in { @Sendable in graph.cumulativeEdges() } }
        ResourceMetricsController(metrics: ResourceMetrics(samples: samples, edges: edges), auth: auth,
                                  now: { Double(configuration.now()) / 1000 }).addRoutes(to: router)
    }
    if let graph = configuration.graph {
        GraphController(graph: graph, history: configuration.history, auth: auth, visibility: visibility, limiter: streams,
                        keepAlive: configuration.keepAlive, refresh: configuration.refresh, now: { Int64(Date().timeIntervalSince1970) }).addRoutes(to: router)
    }
    if let history = configuration.history {
        HistoryController(history: history, live: configuration.live, auth: auth, visibility: visibility, refresh: configuration.refresh,
                          now: { Int64(Date().timeIntervalSince1970) }).addRoutes(to: router)
        let accounting = AccountingAuth(auth: auth, credentials: configuration.kubeAppCredentials, visibility: visibility)
        KubeAppController(history: history, access: accounting, clusterName: configuration.clusterName, now: configuration.now).addRoutes(to: router)
        AllocationController(history: history, access: accounting, cluster: configuration.cluster, namespaceAccess: configuration.namespaceAccess,
                             clusterName: configuration.clusterName, prices: configuration.prices, now: configuration.now).addRoutes(to: router)
    }
    return router
}

/// The HTTP server as a `Service`; logs the address it actually bound (port 0 picks one).
public func buildApplication(_ configuration: APIConfiguration, logger: Logger) -> some ApplicationProtocol {
    let router = buildRouter(configuration, logger: logger)
    return Application(
        router: router,
        server: configuration.tls.map { .secure(certificates: $0, webSocketRouter: router) } ?? .http1WebSocketUpgrade(webSocketRouter: router),
        configuration: .init(address: .hostname(configuration.address.host, port: configuration.address.port), serverName: configuration.serverName),
        onServerRunning: { channel in
            let bound = ListenAddress(host: channel.localAddress?.ipAddress ?? configuration.address.host,
                                      port: channel.localAddress?.port ?? configuration.address.port)
            let url = "\(configuration.tls == nil ? "http" : "https")://\(bound)"
            logger.info("http listening", metadata: ["url": "\(url)"])
        },
        logger: logger
    )
}

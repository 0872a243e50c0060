import Hummingbird
import Logging
import Prometheus

/// Everything the HTTP face needs from the rest of the process.
public struct APIConfiguration: Sendable {
    public var address: ListenAddress
    public var serverName: String
    public var registry: PrometheusCollectorRegistry
    public var readiness: [any ReadinessCheck]

    public init(address: ListenAddress, serverName: String = "clustermon", registry: PrometheusCollectorRegistry, readiness: [any ReadinessCheck] = []) {
        self.address = address
        self.serverName = serverName
        self.registry = registry
        self.readiness = readiness
    }
}

/// The router with every controller's routes: used by the server and by in-memory tests.
public func buildRouter(_ configuration: APIConfiguration) -> Router<BasicRequestContext> {
    let router = Router()
    HealthController(checks: configuration.readiness).addRoutes(to: router)
    MetricsController(registry: configuration.registry).addRoutes(to: router)
    return router
}

/// The HTTP server as a `Service`; logs the address it actually bound (port 0 picks one).
public func buildApplication(_ configuration: APIConfiguration, logger: Logger) -> some ApplicationProtocol {
    Application(
        router: buildRouter(configuration),
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

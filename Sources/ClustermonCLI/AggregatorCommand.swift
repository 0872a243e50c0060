import API
import ArgumentParser
import Logging
import Messaging
import ServiceLifecycle

/// The central Deployment.
struct Aggregator: AsyncParsableCommand, EnvironmentConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "aggregator",
        abstract: "Run the aggregator (Deployment): consume agent batches, serve the API, publish cluster events."
    )

    static let environment: [EnvironmentBinding] =
        [.init("ADDR", "addr"), .init("REFRESH", "refresh"), .init("API_SERVER", "api-server"), .init("LOG_SOURCE", "log-source")]
        + NATSOptions.environment + LoggingOptions.environment

    @Option(name: [.customLong("addr"), .customLong("addr", withSingleDash: true)],
            help: "Where the HTTP API listens. (env ADDR)")
    var addr = ListenAddress(host: "0.0.0.0", port: 8080)

    @Option(name: [.customLong("refresh"), .customLong("refresh", withSingleDash: true)],
            help: "How often live views refresh and cluster events are published. (env REFRESH)")
    var refresh = GoDuration(.seconds(5))

    @Option(name: [.customLong("api-server"), .customLong("api-server", withSingleDash: true)],
            help: "Kubernetes API server URL; default: in-cluster configuration. (env API_SERVER)")
    var apiServer: String?

    @Option(name: [.customLong("log-source"), .customLong("log-source", withSingleDash: true)],
            help: "The `source` written into published cluster events. (env LOG_SOURCE)")
    var logSource = "cluster-monitor"

    @OptionGroup var nats: NATSOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let registry = ProcessSetup.bootstrap(logLevel: logging.logLevel)
        let logger = Logger(label: "clustermon.aggregator")
        logger.info("clustermon aggregator starting", metadata: ["version": "\(Clustermon.version)", "addr": "\(addr)", "refresh": "\(refresh)"])
        // Separate connections: heavy publishing must never get the subscriber cut off as a
        // slow consumer (and the other way round).
        let subscriber = try await NATSConnection.connect(nats.configuration(name: "clustermon-aggregator-ingest"), logger: logger)
        let publisherConnection = try await NATSConnection.connect(nats.configuration(name: "clustermon-aggregator-events"), logger: logger)
        let events = try JetStreamPublisher(connection: publisherConnection, logger: logger)
        let http = buildApplication(
            APIConfiguration(address: addr, registry: registry, readiness: [BusReadiness(bus: subscriber)]),
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: events), .init(service: http), .init(service: StreamSetupService(publisher: events, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        subscriber.close()
        publisherConnection.close()
        logger.info("clustermon aggregator stopped")
    }
}

/// Creates or updates the CLUSTER stream once NATS is reachable, retrying while it is not.
struct StreamSetupService: Service {
    let publisher: JetStreamPublisher
    let logger: Logger

    func run() async throws {
        var delay = Duration.seconds(1)
        while !Task.isCancelledOrShuttingDown {
            do {
                let outcome = try await publisher.ensureStream(.cluster)
                logger.info("jetstream stream ready", metadata: ["stream": "CLUSTER", "outcome": "\(outcome.rawValue)"])
                break
            } catch {
                logger.warning("jetstream stream setup failed; retrying", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
        // A Service that returns early ends the group; stay until shutdown.
        try? await gracefulShutdown()
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { isCancelled || isShuttingDownGracefully }
}

import API
import ArgumentParser
import Logging
import Messaging
import ServiceLifecycle

/// The per-node DaemonSet.
struct Agent: AsyncParsableCommand, EnvironmentConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the per-node agent (DaemonSet): collect this node's state and ship it over NATS."
    )

    static let environment: [EnvironmentBinding] =
        [.init("NODE_NAME", "node-name"), .init("METRICS_ADDR", "metrics-addr")] + NATSOptions.environment + LoggingOptions.environment

    @Option(help: "This node's name; batches go to agent.v1.<node-name>. (env NODE_NAME)")
    var nodeName: String

    @Option(help: "Where /healthz and /metrics listen. (env METRICS_ADDR)")
    var metricsAddr = ListenAddress(host: "0.0.0.0", port: 9102)

    @OptionGroup var nats: NATSOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard SubjectPattern.isValidPublishSubject("agent.v1.\(nodeName)"), !nodeName.contains(".") else {
            throw ValidationError("--node-name '\(nodeName)' cannot be part of a NATS subject (no dots, spaces or wildcards)")
        }
    }

    func run() async throws {
        let registry = ProcessSetup.bootstrap(logLevel: logging.logLevel)
        let logger = Logger(label: "clustermon.agent")
        let configuration = nats.configuration(name: "clustermon-agent-\(nodeName)")
        logger.info("clustermon agent starting", metadata: ["version": "\(Clustermon.version)", "node": "\(nodeName)", "nats": "\(configuration)"])
        let connection = try await NATSConnection.connect(configuration, logger: logger)
        let http = buildApplication(
            APIConfiguration(address: metricsAddr, registry: registry, readiness: [BusReadiness(bus: connection)]),
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: http)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        connection.close()
        logger.info("clustermon agent stopped")
    }
}

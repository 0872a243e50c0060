import API
import ArgumentParser
import Logging
import Messaging
import ServiceLifecycle

/// Agent and aggregator in one process over the in-process bus: no NATS, no cluster.
struct Dev: AsyncParsableCommand, EnvironmentConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run agent and aggregator in one process on this machine (no NATS or cluster needed)."
    )

    static let environment: [EnvironmentBinding] = [.init("ADDR", "addr"), .init("REFRESH", "refresh")] + LoggingOptions.environment

    @Option(name: [.customLong("addr"), .customLong("addr", withSingleDash: true)],
            help: "Where the HTTP API listens; port 0 picks a free port. (env ADDR)")
    var addr = ListenAddress(host: "127.0.0.1", port: 8080)

    @Option(name: [.customLong("refresh"), .customLong("refresh", withSingleDash: true)],
            help: "How often live views refresh. (env REFRESH)")
    var refresh = GoDuration(.seconds(5))

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let registry = ProcessSetup.bootstrap(logLevel: logging.logLevel)
        let logger = Logger(label: "clustermon.dev")
        let bus = InProcessBus()
        let http = buildApplication(
            APIConfiguration(address: addr, registry: registry, readiness: [BusReadiness(bus: bus)]),
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: bus), .init(service: http)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        logger.info("clustermon dev starting", metadata: ["version": "\(Clustermon.version)", "addr": "\(addr)", "refresh": "\(refresh)"])
        try await group.run()
        logger.info("clustermon dev stopped")
    }
}

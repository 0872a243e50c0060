import API
import ArgumentParser
import Foundation
import Logging
import Messaging
import NodeAgent
import ServiceLifecycle

/// Agent and aggregator in one process over the in-process bus: no NATS, no cluster.
struct Dev: AsyncParsableCommand, EnvironmentConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Run agent and aggregator in one process on this machine (no NATS or cluster needed)."
    )

    static let environment: [EnvironmentBinding] =
        [.init("ADDR", "addr"), .init("REFRESH", "refresh"), .init("INTERVAL", "interval"), .init("PROC_ROOT", "proc-root")] + LoggingOptions.environment

    @Option(name: [.customLong("addr"), .customLong("addr", withSingleDash: true)],
            help: "Where the HTTP API listens; port 0 picks a free port. (env ADDR)")
    var addr = ListenAddress(host: "127.0.0.1", port: 8080)

    @Option(name: [.customLong("refresh"), .customLong("refresh", withSingleDash: true)],
            help: "How often live views refresh. (env REFRESH)")
    var refresh = GoDuration(.seconds(5))

    @Option(help: "Agent collection interval. (env INTERVAL)")
    var interval = GoDuration(.seconds(10))

    @Option(help: "The proc root to read. (env PROC_ROOT)")
    var procRoot = "/proc"

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let registry = ProcessSetup.bootstrap(logLevel: logging.logLevel)
        let logger = Logger(label: "clustermon.dev")
        let bus = InProcessBus()
        // This machine is the node: procfs only (no kubelet), connections from procfs.
        let nodeName = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let agent = AgentService(
            configuration: AgentConfiguration(nodeName: nodeName, agentVersion: Clustermon.version, interval: interval.duration,
                                              procRoot: procRoot, filesystemPaths: ["root=/"]),
            bus: bus, kubelet: nil, tracer: nil, logger: Logger(label: "clustermon.dev.agent"))
        let http = buildApplication(
            APIConfiguration(address: addr, registry: registry, readiness: [BusReadiness(bus: bus)]),
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: bus), .init(service: agent), .init(service: http)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        logger.info("clustermon dev starting", metadata: ["version": "\(Clustermon.version)", "addr": "\(addr)", "refresh": "\(refresh)"])
        try await group.run()
        logger.info("clustermon dev stopped")
    }
}

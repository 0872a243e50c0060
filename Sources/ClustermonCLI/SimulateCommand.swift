import AgentCLI
import ArgumentParser
import Foundation
import Kubernetes
import Logging
import Messaging
import NodeAgent
import ServiceLifecycle

/// Publishes simulated nodes' batches to NATS: load tests and demos of a real aggregator.
struct Simulate: AsyncParsableCommand, EnvironmentConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Publish batches of simulated nodes to NATS, as that many agents would (load tests)."
    )

    static let environment: [EnvironmentBinding] =
        [.init("SIMULATE", "nodes"), .init("SIMULATE_PODS", "pods"), .init("INTERVAL", "interval")] + NATSOptions.environment + LoggingOptions.environment

    @Option(help: "Number of simulated nodes. (env SIMULATE)")
    var nodes = 100

    @Option(help: "Pods per node. (env SIMULATE_PODS)")
    var pods = 30

    @Option(help: "Batch interval per node. (env INTERVAL)")
    var interval = GoDuration(.seconds(10))

    @OptionGroup var nats: NATSOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        _ = ProcessSetup.bootstrap(logLevel: logging.logLevel)
        let logger = Logger(label: "clustermon.simulate")
        let bus = try await NATSConnection.connect(nats.configuration(name: "clustermon-simulate"), logger: logger)
        let simulation = SimulatedNodes(configuration: .init(nodes: nodes, podsPerNode: pods, interval: interval.duration), bus: bus, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: simulation)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        bus.close()
    }
}

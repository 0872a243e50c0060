import AgentCLI
import API
import Aggregator
import ArgumentParser
import Foundation
import Kubernetes
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
        [.init("ADDR", "addr"), .init("REFRESH", "refresh"), .init("INTERVAL", "interval"), .init("PROC_ROOT", "proc-root"),
         .init("SIMULATE", "simulate"), .init("SIMULATE_PODS", "simulate-pods")]
        + ServingOptions.environment + LoggingOptions.environment

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

    @Option(help: "Also simulate this many nodes with pods and traffic (load tests, demos). (env SIMULATE)")
    var simulate = 0

    @Option(help: "Pods per simulated node. (env SIMULATE_PODS)")
    var simulatePods = 30

    @OptionGroup var serving: ServingOptions
    @OptionGroup var logging: LoggingOptions

    static var defaultDataDirectory: String {
        (NSTemporaryDirectory() as NSString).appendingPathComponent("clustermon-dev")
    }

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
        let dataDirectory = serving.dataDir ?? Self.defaultDataDirectory
        let history = try serving.openHistory(defaultDirectory: dataDirectory, logger: logger)
        let secret = try Self.jwtSecret(environment: ProcessInfo.processInfo.environment, directory: dataDirectory, logger: logger)
        let state = ClusterState()
        let graph = try serving.makeGraph()
        let remoteWriter = try serving.makeRemoteWriter(logger: logger)
        let ingest = IngestService(bus: bus, state: state, graph: graph, history: history, logger: logger)
        let refresher = Refresher(state: state, ingest: ingest, cluster: nil, history: history, events: bus,
                                  graph: graph, remoteWrite: remoteWriter, configuration: serving.refreshConfiguration(interval: refresh.duration), logger: logger)
        var api = APIConfiguration(address: addr, registry: registry, readiness: [BusReadiness(bus: bus)], jwtSecret: secret)
        try serving.serve(refresher, history: history, refresh: refresh.duration, environment: ProcessInfo.processInfo.environment, in: &api)
        let http = buildApplication(api, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: bus), .init(service: ingest), .init(service: agent), .init(service: refresher), .init(service: http),
        ]
        if let remoteWriter { services.append(.init(service: remoteWriter)) }
        if simulate > 0 {
            let simulation = SimulatedNodes.Configuration(nodes: simulate, podsPerNode: simulatePods, interval: interval.duration)
            services.append(.init(service: SimulatedNodes(configuration: simulation, bus: bus, logger: logger)))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        logger.info("clustermon dev starting", metadata: ["version": "\(Clustermon.version)", "addr": "\(addr)", "refresh": "\(refresh)"])
        try await group.run()
        logger.info("clustermon dev stopped")
    }

    /// `JWT_SECRET`, else a random secret kept in `<data-dir>/jwt-secret` (mode 0600) so that
    /// tokens minted with it survive restarts. The secret itself is never logged.
    static func jwtSecret(environment: [String: String], directory: String, logger: Logger) throws -> String {
        if let secret = environment["JWT_SECRET"], !secret.isEmpty { return secret }
        let path = (directory as NSString).appendingPathComponent("jwt-secret")
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), !existing.isEmpty {
            logger.notice("JWT_SECRET not set: using the dev secret file; mint a token with: JWT_SECRET=$(cat \(path)) clustermon token --user-id me --admin", metadata: ["path": "\(path)"])
            return existing
        }
        var generator = SystemRandomNumberGenerator()
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        guard FileManager.default.createFile(atPath: path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(path)")
        }
        logger.notice("JWT_SECRET not set: generated a dev secret file; mint a token with: JWT_SECRET=$(cat \(path)) clustermon token --user-id me --admin", metadata: ["path": "\(path)"])
        return secret
    }
}

import ArgumentParser
import Kubernetes
import Logging
import Messaging
import NodeAgent
import Prometheus
import ServiceLifecycle
import SwiftProtobuf
#if canImport(Glibc)
import Glibc
#endif

/// The per-node DaemonSet: `clustermon agent`, and the whole of the `clustermon-agent`
/// binary that the DaemonSet runs (this module links neither the aggregator nor Foundation).
public struct Agent: AsyncParsableCommand, EnvironmentConfigurable {
    public static let configuration = CommandConfiguration(
        // `clustermon agent`, or the root command of the `clustermon-agent` binary.
        commandName: CommandLine.arguments.first?.split(separator: "/").last == "clustermon-agent" ? "clustermon-agent" : "agent",
        abstract: "Run the per-node agent (DaemonSet): collect this node's state and ship it over NATS.",
        version: ClustermonVersion.current
    )

    /// Parses the process's arguments (and the environment variables the agent binds) as
    /// this command alone, and runs it: the `clustermon-agent` binary.
    public static func runFromCommandLine() async {
        let arguments = EnvironmentArguments.apply(environment, to: Array(CommandLine.arguments.dropFirst()), environment: ProcessEnvironment.current())
        do {
            let command = try parse(arguments)
            try await command.run()
        } catch {
            exit(withError: error)
        }
    }

    public init() {}

    public static let environment: [EnvironmentBinding] = [
        .init("NODE_NAME", "node-name"), .init("INTERVAL", "interval"), .init("METRICS_ADDR", "metrics-addr"),
        .init("KUBELET_URL", "kubelet-url"), .init("KUBELET_CA", "kubelet-ca"), .init("KUBELET_TOKEN_FILE", "kubelet-token-file"),
        .init("KUBELET_INSECURE_TLS", "kubelet-insecure-tls", isSwitch: true), .init("KUBELET_TIMEOUT", "kubelet-timeout"),
        .init("NO_KUBELET", "no-kubelet", isSwitch: true), .init("PROC_ROOT", "proc-root"), .init("FS_PATHS", "fs-path"),
        .init("TRACER_SOCKET", "tracer-socket"), .init("MAX_CONNECTIONS", "max-connections"), .init("SOCKET_REFRESH", "socket-refresh"),
        .init("NVML_LIBRARY", "nvml-library"), .init("POD_RESOURCES_SOCKET", "pod-resources-socket"),
    ] + NATSOptions.environment + LoggingOptions.environment

    static let serviceAccount = "/var/run/secrets/kubernetes.io/serviceaccount"

    @Option(help: "This node's name; batches go to agent.v1.<node-name>. (env NODE_NAME)")
    var nodeName: String

    @Option(help: "Collection interval; the kubelet refreshes its stats every 10-15 s. (env INTERVAL)")
    var interval = GoDuration(.seconds(10))

    @Option(help: "Where /healthz, /readyz and /metrics listen. (env METRICS_ADDR)")
    var metricsAddr = ListenAddress(host: "0.0.0.0", port: 9102)

    @Option(help: "Kubelet URL; default https://$NODE_IP:10250, or https://127.0.0.1:10250 without NODE_IP. (env KUBELET_URL)")
    var kubeletUrl: String?

    @Option(help: "CA bundle of the kubelet's serving certificate; default the service account's ca.crt when present. (env KUBELET_CA)")
    var kubeletCa: String?

    @Option(help: "Bearer token file, re-read on every request. (env KUBELET_TOKEN_FILE)")
    var kubeletTokenFile = "\(Agent.serviceAccount)/token"

    @Flag(help: "Do not verify the kubelet's certificate (kubelet certificates without IP SANs). (env KUBELET_INSECURE_TLS)")
    var kubeletInsecureTls = false

    @Option(help: "Timeout of one kubelet request. (env KUBELET_TIMEOUT)")
    var kubeletTimeout = GoDuration(.seconds(5))

    @Flag(help: "Do not read the kubelet (a host without one): node stats from procfs only. (env NO_KUBELET)")
    var noKubelet = false

    @Option(help: "The proc root; in a pod, the host's /proc mounted at /host/proc. (env PROC_ROOT)")
    var procRoot = "/proc"

    @Option(name: .customLong("fs-path"), parsing: .singleValue,
            help: "A filesystem to report, `path` or `name=path`; repeatable. (env FS_PATHS, comma-separated)")
    var fsPaths: [String] = []

    @Option(help: "Network tracer unix socket; without one, established TCP connections are read from procfs (no byte counts). (env TRACER_SOCKET)")
    var tracerSocket: String?

    @Option(help: "Connections shipped per batch at most; more are counted as dropped. (env MAX_CONNECTIONS)")
    var maxConnections = 65_536

    @Option(help: "How often each network namespace's sockets (listening ports; procfs connections) and each process's cgroup and namespace are re-read. (env SOCKET_REFRESH)")
    var socketRefresh = GoDuration(.seconds(30))

    @Option(help: "NVIDIA's management library, loaded at run time: a name the dynamic loader finds or a path; without it (no GPU driver on the node) no GPUs are read; empty turns GPU collection off. (env NVML_LIBRARY)")
    var nvmlLibrary = "libnvidia-ml.so.1"

    @Option(help: "The kubelet's pod-resources socket (gRPC): the GPU devices it assigned to each container; without a socket there, none are read; empty turns it off. (env POD_RESOURCES_SOCKET)")
    var podResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock"

    @Flag(help: "Collect once, print the batch and exit (no NATS needed).")
    var once = false

    @Option(help: "Output of --once: json (a person's: addresses as text, RFC 3339 times, pod names beside uids), table, or proto-json (the wire contract's proto3 JSON mapping).")
    var output: OutputFormat = .json

    @OptionGroup var nats: NATSOptions
    @OptionGroup var logging: LoggingOptions

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case json, table
        case protoJSON = "proto-json"
    }

    public func validate() throws {
        guard SubjectPattern.isValidPublishSubject("agent.v1.\(nodeName)"), !nodeName.contains(".") else {
            throw ValidationError("--node-name '\(nodeName)' cannot be part of a NATS subject (no dots, spaces or wildcards)")
        }
        guard interval.duration >= .seconds(1) else { throw ValidationError("--interval must be at least 1s") }
        guard maxConnections >= 0 else { throw ValidationError("--max-connections must not be negative") }
    }

    var agentConfiguration: AgentConfiguration {
        var configuration = AgentConfiguration(
            nodeName: nodeName, agentVersion: ClustermonVersion.current, interval: interval.duration, procRoot: procRoot,
            filesystemPaths: fsPaths.flatMap { $0.split(separator: ",").map(String.init) }, maxConnections: maxConnections,
            socketRefresh: socketRefresh.duration, releaseStartupPagesAfter: 3, nvmlLibrary: nvmlLibrary.isEmpty ? nil : nvmlLibrary,
            podResourcesSocket: podResourcesSocket.isEmpty ? nil : podResourcesSocket)
        configuration.podResourcesTimeout = kubeletTimeout.duration
        return configuration
    }

    func makeKubelet(environment: [String: String] = ProcessEnvironment.current()) throws -> KubeletClient? {
        guard !noKubelet else { return nil }
        let url = kubeletUrl ?? "https://\(environment["NODE_IP"].map { $0.contains(":") ? "[\($0)]" : $0 } ?? "127.0.0.1"):10250"
        let defaultCA = "\(Agent.serviceAccount)/ca.crt"
        let ca = kubeletCa ?? (access(defaultCA, F_OK) == 0 ? defaultCA : nil)
        let token: BearerToken = access(kubeletTokenFile, F_OK) == 0 ? .file(kubeletTokenFile) : .none
        return try KubeletClient(baseURL: url, token: token, tls: ClientTLS(caFile: ca, insecureSkipVerify: kubeletInsecureTls), timeout: kubeletTimeout.duration)
    }

    func makeTracer() -> TracerClient? {
        tracerSocket.map { TracerClient(socketPath: $0, clientID: "clustermon-\(nodeName)") }
    }

    public func run() async throws {
        let registry = ProcessSetup.bootstrap(logLevel: once ? max(logging.logLevel, .warning) : logging.logLevel)
        let logger = Logger(label: "clustermon.agent")
        let kubelet = try makeKubelet()
        let tracer = makeTracer()
        do {
            try await run(kubelet: kubelet, tracer: tracer, registry: registry, logger: logger)
        } catch {
            try? await kubelet?.shutdown()
            try? await tracer?.shutdown()
            throw error
        }
        try? await kubelet?.shutdown()
        try? await tracer?.shutdown()
    }

    private func run(kubelet: KubeletClient?, tracer: TracerClient?, registry: PrometheusCollectorRegistry, logger: Logger) async throws {
        if once {
            // No NATS: an in-process bus stands in, nothing is published.
            let agent = AgentService(configuration: agentConfiguration, bus: InProcessBus(), kubelet: kubelet, tracer: tracer, logger: logger)
            let batch = await agent.snapshot()
            switch output {
            case .json: print(try BatchView.json(batch))
            case .table: print(BatchView.table(batch), terminator: "")
            case .protoJSON: print(try BatchView.protoJSON(batch))
            }
            return
        }
        let configuration = nats.configuration(name: "clustermon-agent-\(nodeName)")
        logger.info("clustermon agent starting", metadata: ["version": "\(ClustermonVersion.current)", "node": "\(nodeName)", "nats": "\(configuration)"])
        let connection = try await NATSConnection.connect(configuration, logger: logger)
        let agent = AgentService(configuration: agentConfiguration, bus: connection, kubelet: kubelet, tracer: tracer, logger: logger)
        let http = StatusServer(
            host: metricsAddr.host, port: metricsAddr.port,
            readiness: [.init(name: "nats") { connection.notReadyReason }],
            metrics: { registry.bytes() }, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: agent), .init(service: http)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        connection.close()
        logger.info("clustermon agent stopped")
    }
}

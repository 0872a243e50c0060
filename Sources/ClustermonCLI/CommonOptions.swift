import AgentCLI
import API
import Aggregator
import ArgumentParser
import Foundation
import Kubernetes
import Logging
import Messaging

/// Live views, history and streams: the aggregator's side, also run by `dev`.
struct ServingOptions: ParsableArguments {
    static let environment: [EnvironmentBinding] = [
        .init("DATA_DIR", "data-dir"), .init("HISTORY_RETENTION", "history-retention"), .init("HISTORY_RAW_RETENTION", "history-raw-retention"),
        .init("HISTORY_MAX_SIZE", "history-max-size"), .init("DROP_AFTER", "drop-after"), .init("MAX_STREAMS", "max-streams"),
        .init("KEEP_ALIVE", "keep-alive"), .init("GRAPH_WINDOW", "graph-window"), .init("GRAPH_MAX_WINDOW", "graph-max-window"),
        .init("GRAPH_MAX_CONNECTIONS", "graph-max-connections"), .init("NO_REVERSE_DNS", "no-reverse-dns", isSwitch: true),
        .init("CLUSTER_NAME", "cluster-name"), .init("PRICES", "prices"),
        .init("HISTORY", "history"), .init("REMOTE_WRITE_URL", "remote-write-url"),
        .init("REMOTE_WRITE_BEARER_TOKEN_FILE", "remote-write-bearer-token-file"), .init("REMOTE_WRITE_USERNAME", "remote-write-username"),
        .init("REMOTE_WRITE_PASSWORD_FILE", "remote-write-password-file"), .init("REMOTE_WRITE_HEADER", "remote-write-header"),
        .init("REMOTE_WRITE_QUEUE_SAMPLES", "remote-write-queue-samples"), .init("REMOTE_WRITE_TIMEOUT", "remote-write-timeout"),
        .init("REPLICA", "replica"), .init("REMOTE_WRITE_REPLICA_LABEL", "remote-write-replica-label"),
    ]

    @Option(help: "Directory of the history database (history.sqlite); it survives restarts. (env DATA_DIR)")
    var dataDir: String?

    @Option(help: "How long hourly buckets are kept (whole days are dropped). (env HISTORY_RETENTION)")
    var historyRetention = GoDuration(.seconds(100 * 24 * 3600))

    @Option(help: "How long raw samples (one per agent snapshot) are kept (whole days are dropped). (env HISTORY_RAW_RETENTION)")
    var historyRawRetention = GoDuration(.seconds(8 * 24 * 3600))

    @Option(help: "Upper bound of the history's size; beyond it the oldest days go first, raw before buckets. (env HISTORY_MAX_SIZE)")
    var historyMaxSize = ByteSize(8 << 30)

    @Option(help: "A node whose agent is silent this long leaves the live views (after three intervals it is marked stale). (env DROP_AFTER)")
    var dropAfter = GoDuration(.seconds(300))

    @Option(help: "Open SSE and WebSocket streams allowed at once; more are refused with 503. (env MAX_STREAMS)")
    var maxStreams = 4096

    @Option(help: "SSE keep-alive comment period. (env KEEP_ALIVE)")
    var keepAlive = GoDuration(.seconds(15))

    @Option(help: "The dependency graph's default window: rates are over this much of the latest traffic. (env GRAPH_WINDOW)")
    var graphWindow = GoDuration(.seconds(60))

    @Option(help: "The longest `window` a live graph request may ask for (older or longer: from/to on the history). (env GRAPH_MAX_WINDOW)")
    var graphMaxWindow = GoDuration(.seconds(900))

    @Option(help: "Connections tracked per node for the graph; more are dropped and counted. (env GRAPH_MAX_CONNECTIONS)")
    var graphMaxConnections = 65_536

    @Flag(help: "Do not look up reverse-DNS names of external addresses (they are shown by address). (env NO_REVERSE_DNS)")
    var noReverseDns = false

    @Option(help: "This cluster's name: Kube-App's cluster_name tag and the allocation API's cluster property. (env CLUSTER_NAME)")
    var clusterName = ""

    @Option(help: "A JSON price table for the allocation API's costs: {\"cpuCoreHour\", \"ramGiBHour\", \"gpuHour\", \"networkGiB\", \"currency\"}; without it no costs are shown. (env PRICES)")
    var prices: String?

    @Option(help: "Where the history lives: `local` (the SQLite store in --data-dir) or `remote-only` (only the --remote-write-url receivers; no history endpoints). (env HISTORY)")
    var history: HistoryMode = .local

    @Option(help: "Send every agent snapshot's samples to this Prometheus remote write 1.0 receiver (Prometheus, VictoriaMetrics, Mimir, Thanos); repeatable, or comma-separated. (env REMOTE_WRITE_URL)")
    var remoteWriteUrl: [String] = []

    @Option(help: "A file whose contents are the remote write receivers' bearer token (re-read per request). (env REMOTE_WRITE_BEARER_TOKEN_FILE)")
    var remoteWriteBearerTokenFile: String?

    @Option(help: "Basic auth user for the remote write receivers. (env REMOTE_WRITE_USERNAME)")
    var remoteWriteUsername: String?

    @Option(help: "A file holding the basic auth password of --remote-write-username (re-read per request). (env REMOTE_WRITE_PASSWORD_FILE)")
    var remoteWritePasswordFile: String?

    @Option(help: "An HTTP header NAME=VALUE sent with every remote write (e.g. X-Scope-OrgID=team-a for Mimir); repeatable. (env REMOTE_WRITE_HEADER)")
    var remoteWriteHeader: [String] = []

    @Option(help: "Samples queued per remote write receiver while it is slow or away; beyond it the oldest are dropped and counted. (env REMOTE_WRITE_QUEUE_SAMPLES)")
    var remoteWriteQueueSamples = 1_000_000

    @Option(help: "How long one remote write request may take, connecting included; then it is retried. (env REMOTE_WRITE_TIMEOUT)")
    var remoteWriteTimeout = GoDuration(.seconds(30))

    @Option(help: "This replica's name: the `replica` label of remote-written series, so that a receiver can de-duplicate replicas; default: the host name (the pod's name). (env REPLICA)")
    var replica: String?

    @Option(help: "The name of the replica label on remote-written series (`__replica__` for Mimir's HA tracker); empty: no replica label. (env REMOTE_WRITE_REPLICA_LABEL)")
    var remoteWriteReplicaLabel = "replica"

    /// The remote writer these flags describe; nil without `--remote-write-url`.
    func makeRemoteWriter(logger: Logger) throws -> RemoteWriter? {
        let urls = commaList(remoteWriteUrl)
        if history == .remoteOnly && urls.isEmpty {
            throw ValidationError("--history remote-only needs at least one --remote-write-url")
        }
        guard !urls.isEmpty else { return nil }
        if remoteWriteBearerTokenFile != nil && remoteWriteUsername != nil {
            throw ValidationError("--remote-write-bearer-token-file and --remote-write-username exclude each other")
        }
        if remoteWritePasswordFile != nil && remoteWriteUsername == nil {
            throw ValidationError("--remote-write-password-file needs --remote-write-username")
        }
        guard remoteWriteQueueSamples > 0 else { throw ValidationError("--remote-write-queue-samples must be positive") }
        var headers: [(name: String, value: String)] = []
        for header in remoteWriteHeader {
            guard let equals = header.firstIndex(of: "="), equals != header.startIndex,
                  header[..<equals].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                throw ValidationError("--remote-write-header \(header): expected NAME=VALUE (e.g. X-Scope-OrgID=team-a)")
            }
            headers.append((String(header[..<equals]), String(header[header.index(after: equals)...])))
        }
        for secret in [remoteWriteBearerTokenFile, remoteWritePasswordFile].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: secret) {
            throw ValidationError("cannot read \(secret)")
        }
        let targets = try urls.map { url -> RemoteWriteTarget in
            guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""), !(components.host ?? "").isEmpty else {
                throw ValidationError("--remote-write-url \(RemoteWriteTarget(url: url).displayURL): expected an http(s) URL such as http://prometheus:9090/api/v1/write")
            }
            return RemoteWriteTarget(url: url, bearerTokenFile: remoteWriteBearerTokenFile, username: remoteWriteUsername,
                                     passwordFile: remoteWritePasswordFile, headers: headers)
        }
        var configuration = RemoteWriteConfiguration(targets: targets)
        configuration.cluster = clusterName
        configuration.replica = replica ?? ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? ""
        configuration.maxQueuedSamples = remoteWriteQueueSamples
        guard remoteWriteReplicaLabel.isEmpty || remoteWriteReplicaLabel.wholeMatch(of: /[a-zA-Z_][a-zA-Z0-9_]*/) != nil else {
            throw ValidationError("--remote-write-replica-label \(remoteWriteReplicaLabel): not a Prometheus label name")
        }
        configuration.replicaLabel = remoteWriteReplicaLabel
        guard remoteWriteTimeout.duration >= .seconds(1) else { throw ValidationError("--remote-write-timeout must be at least 1s") }
        configuration.timeout = remoteWriteTimeout.duration
        logger.info("remote write", metadata: ["urls": "\(targets.map(\.displayURL).joined(separator: ","))", "replica": "\(configuration.replica)"])
        return RemoteWriter(configuration: configuration, logger: logger)
    }

    /// The price table `--prices` names (read once at start; a bad file stops the start).
    func priceTable() throws -> PriceTable? {
        guard let prices else { return nil }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: prices)) } catch {
            throw ValidationError("--prices: cannot read \(prices): \(error.localizedDescription)")
        }
        do {
            let table = try JSONDecoder().decode(PriceTable.self, from: data)
            guard [table.cpuCoreHour, table.ramGiBHour, table.gpuHour, table.networkGiB].allSatisfy({ $0.isFinite && $0 >= 0 }), !table.currency.isEmpty else {
                throw ValidationError("--prices: prices must be finite and non-negative, and currency not empty")
            }
            return table
        } catch let error as ValidationError { throw error } catch {
            throw ValidationError("--prices: \(prices) is not a price table ({\"cpuCoreHour\": 0.03, \"ramGiBHour\": 0.004, \"gpuHour\": 0.9, \"networkGiB\": 0.01, \"currency\": \"CHF\"}): \(error)")
        }
    }

    func historyConfiguration() -> HistoryConfiguration {
        var configuration = HistoryConfiguration()
        configuration.retention = historyRetention.duration
        configuration.rawRetention = historyRawRetention.duration
        configuration.maxBytes = historyMaxSize.bytes
        return configuration
    }

    /// The refresh settings both `aggregator` and `dev` take from these flags.
    func refreshConfiguration(interval: Duration) -> RefreshConfiguration {
        var configuration = RefreshConfiguration()
        configuration.interval = interval
        configuration.dropAfter = dropAfter.duration
        return configuration
    }

    /// The dependency graph these flags describe.
    func makeGraph() throws -> ConnectionGraph {
        var configuration = GraphConfiguration()
        guard graphWindow.duration >= .seconds(1), graphMaxWindow.duration >= graphWindow.duration else {
            throw ValidationError("--graph-window must be at least 1s and at most --graph-max-window")
        }
        configuration.window = graphWindow.duration
        configuration.maxWindow = graphMaxWindow.duration
        configuration.maxConnectionsPerNode = max(graphMaxConnections, 1)
        return ConnectionGraph(configuration: configuration, dns: noReverseDns ? nil : ReverseDNS())
    }

    /// Points the HTTP face at the live views, the graph and the history, with these stream
    /// settings.
    func serve(_ refresher: Refresher, history: HistoryStore?, refresh: Duration, environment: [String: String], in api: inout APIConfiguration) throws {
        api.clusterName = clusterName
        api.prices = try priceTable()
        if let username = environment["API_USERNAME"], let password = environment["API_PASSWORD"], !username.isEmpty, !password.isEmpty {
            api.kubeAppCredentials = KubeAppCredentials(username: username, password: password)
        }
        api.live = refresher.live
        api.graph = refresher.graph
        let state = refresher.state
        api.nodeSamples = { state.snapshot() }
        api.history = history
        api.refresh = refresh
        api.maxStreams = maxStreams
        api.keepAlive = keepAlive.duration
    }

    /// Opens (creating the directory) `<data-dir>/history.sqlite`; nil with `--history remote-only`.
    func openHistory(defaultDirectory: String, logger: Logger) throws -> HistoryStore? {
        guard history == .local else {
            logger.info("no local history: --history remote-only")
            return nil
        }
        let directory = dataDir ?? defaultDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("history.sqlite")
        let store = try HistoryStore(path: path, configuration: historyConfiguration(), logger: logger)
        logger.info("history opened", metadata: ["path": "\(path)"])
        return store
    }
}

/// The items of flags that take comma-separated lists (and may repeat), trimmed, empty
/// ones left out.
func commaList(_ values: [String]) -> [String] {
    values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
}

/// `--history`: where the history lives.
enum HistoryMode: String, ExpressibleByArgument, Sendable {
    case local
    case remoteOnly = "remote-only"
}

/// A size with Kubernetes suffixes (`512Mi`, `8Gi`, `10G`) or plain bytes.
struct ByteSize: Sendable, Equatable, ExpressibleByArgument, CustomStringConvertible {
    var bytes: Int64
    init(_ bytes: Int64) { self.bytes = bytes }
    init?(argument: String) {
        guard let quantity = Quantity(argument), quantity.milliValue > 0 else { return nil }
        bytes = quantity.value
    }
    var description: String { Quantity.formatBytes(UInt64(bytes)) }
    var defaultValueDescription: String { description }
}

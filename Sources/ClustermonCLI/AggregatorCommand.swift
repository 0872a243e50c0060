import AgentCLI
import API
import Aggregator
import ArgumentParser
import Foundation
import NIOSSL
import Kubernetes
import KubernetesConfig
import Logging
import Messaging
import Prometheus
import ServiceLifecycle

/// The central Deployment.
struct Aggregator: AsyncParsableCommand, EnvironmentConfigurable {
    static let configuration = CommandConfiguration(
        commandName: "aggregator",
        abstract: "Run the aggregator (Deployment): consume agent batches, serve the API, publish cluster events."
    )

    static let environment: [EnvironmentBinding] = [
        .init("ADDR", "addr"), .init("REFRESH", "refresh"), .init("API_SERVER", "api-server"), .init("LOG_SOURCE", "log-source"),
        .init("KUBECONFIG", "kubeconfig"), .init("KUBE_CONTEXT", "context"), .init("API_TOKEN_FILE", "api-token-file"), .init("API_CA", "api-ca"), .init("API_INSECURE_TLS", "api-insecure-tls", isSwitch: true),
        .init("VERIFY_INTERVAL", "verify-interval"), .init("OWNER_LABEL", "owner-label"),
        .init("RATE_LIMIT", "rate-limit"), .init("RATE_LIMIT_PERIOD", "rate-limit-period"),
        .init("TLS_CERT_FILE", "tls-cert-file"), .init("TLS_PRIVATE_KEY_FILE", "tls-private-key-file"),
        .init("REQUESTHEADER_CLIENT_CA_FILE", "requestheader-client-ca-file"), .init("REQUESTHEADER_ALLOWED_NAMES", "requestheader-allowed-names"),
        .init("REQUESTHEADER_USERNAME_HEADERS", "requestheader-username-headers"), .init("REQUESTHEADER_GROUP_HEADERS", "requestheader-group-headers"),
        .init("REQUESTHEADER_EXTRA_HEADERS_PREFIX", "requestheader-extra-headers-prefix"),
    ] + ServingOptions.environment + NATSOptions.environment + LoggingOptions.environment

    @Option(name: [.customLong("addr"), .customLong("addr", withSingleDash: true)],
            help: "Where the HTTP API listens. (env ADDR)")
    var addr = ListenAddress(host: "0.0.0.0", port: 8080)

    @Option(name: [.customLong("refresh"), .customLong("refresh", withSingleDash: true)],
            help: "How often live views refresh and cluster events are published. (env REFRESH)")
    var refresh = GoDuration(.seconds(5))

    @Option(name: [.customLong("api-server"), .customLong("api-server", withSingleDash: true)],
            help: "Kubernetes API server URL; default: in-cluster configuration. (env API_SERVER)")
    var apiServer: String?

    @Option(help: "A kubeconfig file (current context: server, token, client certificate, CA); used without --api-server. (env KUBECONFIG)")
    var kubeconfig: String?

    @Option(help: "The kubeconfig context to use instead of the current one. (env KUBE_CONTEXT)")
    var context: String?

    @Option(help: "Bearer token file for --api-server, re-read on every request. (env API_TOKEN_FILE)")
    var apiTokenFile: String?

    @Option(help: "CA bundle of the API server for --api-server. (env API_CA)")
    var apiCa: String?

    @Flag(help: "Do not verify the API server's certificate (tests and labs only). (env API_INSECURE_TLS)")
    var apiInsecureTls = false

    @Option(help: "Full re-list of every kind at this interval, repairing missed watch events. (env VERIFY_INTERVAL)")
    var verifyInterval = GoDuration(.seconds(300))

    @Option(help: "Namespace label naming its owner's user id. (env OWNER_LABEL)")
    var ownerLabel = "clustermon.io/owner"

    @Option(help: "Deployment heartbeat: requests per client per period. (env RATE_LIMIT)")
    var rateLimit = 3600

    @Option(help: "Deployment heartbeat: the rate limit's window. (env RATE_LIMIT_PERIOD)")
    var rateLimitPeriod = GoDuration(.seconds(3600))

    @Option(help: "Serve the HTTP API over HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate chain; re-read when it changes. Needs --tls-private-key-file. (env TLS_CERT_FILE)")
    var tlsCertFile: String?

    @Option(help: "The PEM private key of --tls-cert-file; re-read with it. (env TLS_PRIVATE_KEY_FILE)")
    var tlsPrivateKeyFile: String?

    @Option(help: "The CA of the API server's front-proxy client certificate: metrics.k8s.io then trusts the users it names (needs --tls-cert-file); default: the extension-apiserver-authentication ConfigMap's, when it is readable. (env REQUESTHEADER_CLIENT_CA_FILE)")
    var requestheaderClientCaFile: String?

    @Option(help: "Common names allowed as the front proxy, comma-separated; empty: any certificate the CA signed. (env REQUESTHEADER_ALLOWED_NAMES)")
    var requestheaderAllowedNames: String?

    @Option(help: "Request headers naming the user, comma-separated, first non-empty wins. (env REQUESTHEADER_USERNAME_HEADERS)")
    var requestheaderUsernameHeaders: String?

    @Option(help: "Request headers naming the user's groups, comma-separated. (env REQUESTHEADER_GROUP_HEADERS)")
    var requestheaderGroupHeaders: String?

    @Option(help: "Prefixes of request headers carrying the user's extra attributes, comma-separated. (env REQUESTHEADER_EXTRA_HEADERS_PREFIX)")
    var requestheaderExtraHeadersPrefix: String?

    @Option(name: [.customLong("log-source"), .customLong("log-source", withSingleDash: true)],
            help: "The `source` written into published cluster events. (env LOG_SOURCE)")
    var logSource = "cluster-monitor"

    @OptionGroup var serving: ServingOptions
    @OptionGroup var nats: NATSOptions
    @OptionGroup var logging: LoggingOptions

    /// The API server: `--api-server` (token and CA from flags), else `--kubeconfig`, else
    /// in-cluster.
    func apiServerConfig(environment: [String: String]) throws -> APIServerConfig {
        if let apiServer {
            return APIServerConfig(server: apiServer, token: apiTokenFile.map { .file($0) } ?? .none,
                                   tls: ClientTLS(caFile: apiCa, insecureSkipVerify: apiInsecureTls))
        }
        if let kubeconfig, !kubeconfig.isEmpty {
            // KUBECONFIG may list several files; the first is read.
            var config = try APIServerConfig.kubeconfig(path: String(kubeconfig.split(separator: ":").first ?? ""), context: context)
            if apiInsecureTls { config.tls.insecureSkipVerify = true }
            return config
        }
        var config = try APIServerConfig.inCluster(environment: environment)
        if apiInsecureTls { config.tls.insecureSkipVerify = true }
        return config
    }

    func validate() throws {
        if (tlsCertFile ?? "").isEmpty != (tlsPrivateKeyFile ?? "").isEmpty {
            throw ValidationError("--tls-cert-file and --tls-private-key-file go together")
        }
        if !(requestheaderClientCaFile ?? "").isEmpty && (tlsCertFile ?? "").isEmpty {
            throw ValidationError("--requestheader-client-ca-file needs --tls-cert-file: the front proxy's certificate comes over TLS")
        }
    }

    func run() async throws {
        let registry = ProcessSetup.bootstrap(logLevel: logging.logLevel)
        let logger = Logger(label: "clustermon.aggregator")
        let environment = ProcessInfo.processInfo.environment
        let apiClient = try APIClient(config: try apiServerConfig(environment: environment))
        // The HTTP client must be shut down on every path, errors included.
        do {
            try await serve(apiClient: apiClient, registry: registry, environment: environment, logger: logger)
        } catch {
            try? await apiClient.shutdown()
            throw error
        }
        try? await apiClient.shutdown()
        logger.info("clustermon aggregator stopped")
    }

    private func serve(apiClient: APIClient, registry: PrometheusCollectorRegistry, environment: [String: String], logger: Logger) async throws {
        var informerConfiguration = InformerConfiguration()
        informerConfiguration.verifyInterval = verifyInterval.duration
        let cluster = ClusterInformers(client: apiClient, configuration: informerConfiguration, logger: logger)
        if environment["JWT_SECRET"]?.isEmpty ?? true {
            logger.warning("JWT_SECRET is not set: every protected endpoint answers 401")
        }
        logger.info("clustermon aggregator starting", metadata: ["version": "\(Clustermon.version)", "addr": "\(addr)", "refresh": "\(refresh)"])
        // Separate connections: heavy publishing must never get the subscriber cut off as a
        // slow consumer (and the other way round).
        let subscriber = try await NATSConnection.connect(nats.configuration(name: "clustermon-aggregator-ingest"), logger: logger)
        let publisherConnection = try await NATSConnection.connect(nats.configuration(name: "clustermon-aggregator-events"), logger: logger)
        let events = try JetStreamPublisher(connection: publisherConnection, logger: logger)
        let history = try serving.openHistory(defaultDirectory: "/var/lib/clustermon", logger: logger)
        let state = ClusterState()
        let graph = try serving.makeGraph()
        let remoteWriter = try serving.makeRemoteWriter(logger: logger)
        let ingest = IngestService(bus: subscriber, state: state, graph: graph, history: history, cluster: cluster, maxBatchBytes: max(subscriber.maxPayloadBytes, 1 << 20), logger: logger)
        var refreshConfiguration = serving.refreshConfiguration(interval: refresh.duration)
        refreshConfiguration.source = logSource
        refreshConfiguration.maxEventBytes = publisherConnection.maxPayloadBytes
        let refresher = Refresher(state: state, ingest: ingest, cluster: cluster, history: history, events: events,
                                  graph: graph, remoteWrite: remoteWriter, configuration: refreshConfiguration, logger: logger)
        var api = APIConfiguration(
            address: addr, registry: registry, readiness: [BusReadiness(bus: subscriber), InformerReadiness(cluster: cluster)],
            cluster: cluster, jwtSecret: environment["JWT_SECRET"], namespaceAccess: NamespaceAccess(ownerLabel: ownerLabel),
            heartbeatToken: environment["AUTH_TOKEN_BASIC"], heartbeatRateLimit: rateLimit, heartbeatRatePeriod: rateLimitPeriod.duration)
        try serving.serve(refresher, history: history, refresh: refresh.duration, environment: ProcessInfo.processInfo.environment, in: &api)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: cluster), .init(service: events), .init(service: StreamSetupService(publisher: events, logger: logger)),
            .init(service: ingest), .init(service: refresher)]
        if let remoteWriter { services.append(.init(service: remoteWriter)) }
        if let tlsCertFile, let tlsPrivateKeyFile, !tlsCertFile.isEmpty {
            let frontProxy = try await frontProxyOptions(apiClient: apiClient, logger: logger)
            // A CA from the flag's file is re-read with the pair; one from the ConfigMap is
            // re-read by its own watch.
            let caFile = frontProxy != nil ? requestheaderClientCaFile.flatMap { $0.isEmpty ? nil : $0 } : nil
            let certificates = try ServingCertificates(certificatePath: tlsCertFile, keyPath: tlsPrivateKeyFile, clientCA: frontProxy?.clientCA,
                                                       clientCAPath: caFile, logger: logger)
            api.tls = certificates
            api.frontProxy = frontProxy.map { FrontProxyAuth(options: $0, client: apiClient, logger: logger) }
            services.append(.init(service: CertificateReloadService(certificates: certificates)))
            if frontProxy != nil, caFile == nil {
                services.append(.init(service: RequestheaderCAWatch(certificates: certificates, apiClient: apiClient, logger: logger)))
            }
        }
        let http = buildApplication(api, logger: logger)
        services.append(.init(service: http))
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
        subscriber.close()
        publisherConnection.close()
    }
}

extension Aggregator {
    static func list(_ text: String?) -> [String]? { text.map { commaList([$0]) } }

    /// The data of `kube-system/extension-apiserver-authentication`.
    static func extensionAuthentication(_ apiClient: APIClient) async throws -> [String: String] {
        let path = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
        let body = try await apiClient.get(path, maxBytes: 1 << 20)
        let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        return object?["data"] as? [String: String] ?? [:]
    }

    /// The front proxy's CA and headers: from the flags, else from the API server's
    /// `kube-system/extension-apiserver-authentication` ConfigMap (as metrics-server reads
    /// them); nil when neither has a CA (then metrics.k8s.io takes JWTs only).
    func frontProxyOptions(apiClient: APIClient, logger: Logger) async throws -> FrontProxyOptions? {
        var options: FrontProxyOptions
        if let file = requestheaderClientCaFile, !file.isEmpty {
            options = FrontProxyOptions(clientCA: try FrontProxyOptions.certificates(pemFile: file))
        } else {
            let data: [String: String]
            do {
                data = try await Self.extensionAuthentication(apiClient)
            } catch {
                logger.info("no front-proxy authentication: no --requestheader-client-ca-file and the ConfigMap is not readable", metadata: ["error": "\(error)"])
                return nil
            }
            guard let ca = data["requestheader-client-ca-file"], !ca.isEmpty else {
                logger.info("no front-proxy authentication: the extension-apiserver-authentication ConfigMap has no requestheader CA")
                return nil
            }
            options = FrontProxyOptions(clientCA: try FrontProxyOptions.certificates(pem: Array(ca.utf8), source: "the extension-apiserver-authentication ConfigMap"))
            func array(_ key: String) -> [String]? {
                data[key].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String] }
            }
            if let names = array("requestheader-allowed-names") { options.allowedNames = names }
            if let headers = array("requestheader-username-headers"), !headers.isEmpty { options.usernameHeaders = headers }
            if let headers = array("requestheader-group-headers"), !headers.isEmpty { options.groupHeaders = headers }
            if let prefixes = array("requestheader-extra-headers-prefix"), !prefixes.isEmpty { options.extraHeaderPrefixes = prefixes }
        }
        // Flags win over the ConfigMap.
        if let names = Self.list(requestheaderAllowedNames) { options.allowedNames = names }
        if let headers = Self.list(requestheaderUsernameHeaders), !headers.isEmpty { options.usernameHeaders = headers }
        if let headers = Self.list(requestheaderGroupHeaders), !headers.isEmpty { options.groupHeaders = headers }
        if let prefixes = Self.list(requestheaderExtraHeadersPrefix), !prefixes.isEmpty { options.extraHeaderPrefixes = prefixes }
        logger.info("front-proxy authentication on metrics.k8s.io", metadata: [
            "allowed_names": "\(options.allowedNames.joined(separator: ","))", "username_headers": "\(options.usernameHeaders.joined(separator: ","))"])
        return options
    }
}

/// Re-reads the requestheader CA from the extension-apiserver-authentication ConfigMap every
/// `interval` (the API server rotates its front-proxy CA there) and hands a changed one to
/// the serving certificates; an unreadable ConfigMap or a bad CA keeps the one in use.
struct RequestheaderCAWatch: Service {
    let certificates: ServingCertificates
    let apiClient: APIClient
    let logger: Logger
    var interval: Duration = .seconds(10)

    func run() async throws {
        var last: String?
        await CertificateReloadService.every(interval) {
            do {
                guard let ca = try await Aggregator.extensionAuthentication(apiClient)["requestheader-client-ca-file"], !ca.isEmpty, ca != last else { return }
                // The first read is the baseline when it is the CA read at start.
                if last != nil || !Self.same(ca, certificates.currentClientCA) { certificates.setClientCA(pem: Data(ca.utf8)) }
                last = ca
            } catch {
                logger.debug("requestheader CA not re-read: the ConfigMap is not readable", metadata: ["error": "\(error)"])
            }
        }
    }

    static func same(_ pem: String, _ certificates: [NIOSSLCertificate]?) -> Bool {
        guard let certificates, let parsed = try? NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)) else { return false }
        return parsed == certificates
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

/// Ready once every informer has listed.
struct InformerReadiness: ReadinessCheck {
    let name = "informers"
    let cluster: ClusterInformers

    func notReadyReason() async -> String? {
        let missing = cluster.unsynced
        return missing.isEmpty ? nil : "not synced: \(missing.joined(separator: ", "))"
    }

    /// The API server failing after the first list: the cache is still served (it is the
    /// best answer there is), so the aggregator stays ready, and says so.
    func degradedReason() async -> String? {
        let failing = cluster.failing
        guard !failing.isEmpty else { return nil }
        return failing.map { "\($0.kind) failing for \($0.duration.components.seconds)s (\($0.error))" }.joined(separator: "; ")
            + "; serving the cached objects"
    }
}

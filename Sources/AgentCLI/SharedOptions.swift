import ArgumentParser
import Kubernetes
import Logging
import Messaging

/// How to reach NATS (agent and aggregator).
public struct NATSOptions: ParsableArguments {
    public init() {}

    public static let environment: [EnvironmentBinding] = [
        .init("NATS_URL", "nats"), .init("NATS_USER", "nats-user"), .init("NATS_PASSWORD", "nats-password"),
        .init("NATS_TOKEN", "nats-token"), .init("NATS_CREDS", "nats-creds"), .init("NATS_CA", "nats-ca"),
        .init("NATS_CERT", "nats-cert"), .init("NATS_KEY", "nats-key"), .init("NATS_TLS", "nats-tls", isSwitch: true),
        .init("NATS_RECONNECT_WAIT", "nats-reconnect-wait"),
    ]

    @Option(name: [.customLong("nats"), .customLong("nats", withSingleDash: true)],
            help: "NATS server URL(s), comma-separated. (env NATS_URL)")
    public var nats = "nats://nats:4222"

    @Option(help: "NATS user name. (env NATS_USER)")
    public var natsUser: String?

    @Option(help: "NATS password; prefer the environment variable. (env NATS_PASSWORD)")
    public var natsPassword: String?

    @Option(help: "NATS token; prefer the environment variable. (env NATS_TOKEN)")
    public var natsToken: String?

    @Option(help: "NATS credentials file (JWT + NKey seed). (env NATS_CREDS)")
    public var natsCreds: String?

    @Option(help: "CA bundle for the NATS server certificate; turns TLS on. (env NATS_CA)")
    public var natsCa: String?

    @Option(help: "Client certificate for mutual TLS. (env NATS_CERT)")
    public var natsCert: String?

    @Option(help: "Client key for mutual TLS. (env NATS_KEY)")
    public var natsKey: String?

    @Flag(help: "Require TLS with the system trust store. (env NATS_TLS)")
    public var natsTls = false

    @Option(help: "Wait between reconnect attempts; reconnection never gives up. (env NATS_RECONNECT_WAIT)")
    public var natsReconnectWait = GoDuration(.seconds(2))

    public func configuration(name: String) -> NATSConfiguration {
        NATSConfiguration(
            servers: [nats], name: name, user: natsUser, password: natsPassword, token: natsToken,
            credentialsFile: natsCreds, tlsCAFile: natsCa, tlsCertificateFile: natsCert, tlsKeyFile: natsKey,
            tlsRequired: natsTls, reconnectWait: natsReconnectWait.duration
        )
    }
}

/// Log level and format, for every command.
public struct LoggingOptions: ParsableArguments {
    public init() {}

    public static let environment: [EnvironmentBinding] = [.init("LOG_LEVEL", "log-level")]

    @Option(help: "trace, debug, info, notice, warning, error or critical. (env LOG_LEVEL)")
    public var logLevel: Logger.Level = .info
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension ListenAddress: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public var defaultValueDescription: String { description }
}

import API
import ArgumentParser
import Logging
import Messaging

/// How to reach NATS (agent and aggregator).
struct NATSOptions: ParsableArguments {
    static let environment: [EnvironmentBinding] = [
        .init("NATS_URL", "nats"), .init("NATS_USER", "nats-user"), .init("NATS_PASSWORD", "nats-password"),
        .init("NATS_TOKEN", "nats-token"), .init("NATS_CREDS", "nats-creds"), .init("NATS_CA", "nats-ca"),
        .init("NATS_CERT", "nats-cert"), .init("NATS_KEY", "nats-key"), .init("NATS_TLS", "nats-tls", isSwitch: true),
        .init("NATS_RECONNECT_WAIT", "nats-reconnect-wait"),
    ]

    @Option(name: [.customLong("nats"), .customLong("nats", withSingleDash: true)],
            help: "NATS server URL(s), comma-separated. (env NATS_URL)")
    var nats = "nats://nats:4222"

    @Option(help: "NATS user name. (env NATS_USER)")
    var natsUser: String?

    @Option(help: "NATS password; prefer the environment variable. (env NATS_PASSWORD)")
    var natsPassword: String?

    @Option(help: "NATS token; prefer the environment variable. (env NATS_TOKEN)")
    var natsToken: String?

    @Option(help: "NATS credentials file (JWT + NKey seed). (env NATS_CREDS)")
    var natsCreds: String?

    @Option(help: "CA bundle for the NATS server certificate; turns TLS on. (env NATS_CA)")
    var natsCa: String?

    @Option(help: "Client certificate for mutual TLS. (env NATS_CERT)")
    var natsCert: String?

    @Option(help: "Client key for mutual TLS. (env NATS_KEY)")
    var natsKey: String?

    @Flag(help: "Require TLS with the system trust store. (env NATS_TLS)")
    var natsTls = false

    @Option(help: "Wait between reconnect attempts; reconnection never gives up. (env NATS_RECONNECT_WAIT)")
    var natsReconnectWait = GoDuration(.seconds(2))

    func configuration(name: String) -> NATSConfiguration {
        NATSConfiguration(
            servers: [nats], name: name, user: natsUser, password: natsPassword, token: natsToken,
            credentialsFile: natsCreds, tlsCAFile: natsCa, tlsCertificateFile: natsCert, tlsKeyFile: natsKey,
            tlsRequired: natsTls, reconnectWait: natsReconnectWait.duration
        )
    }
}

/// Log level and format, for every command.
struct LoggingOptions: ParsableArguments {
    static let environment: [EnvironmentBinding] = [.init("LOG_LEVEL", "log-level")]

    @Option(help: "trace, debug, info, notice, warning, error or critical. (env LOG_LEVEL)")
    var logLevel: Logger.Level = .info
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension ListenAddress: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public var defaultValueDescription: String { description }
}

import Aggregator
import ArgumentParser
import Foundation
import Kubernetes
import Logging
import Testing
import TestSupport
@testable import API
@testable import AgentCLI
@testable import ClustermonCLI

private func parse<C: ParsableCommand>(_ arguments: [String], environment: [String: String] = [:], as: C.Type) throws -> C {
    let command = try Clustermon.parseAsRoot(Clustermon.withEnvironment(arguments, environment))
    return try #require(command as? C)
}

@Suite("Command line")
struct CommandLineTests {
    @Test func seedSingleDashSpellingsAreAccepted() throws {
        let aggregator = try parse(
            ["aggregator", "-addr", ":9090", "-refresh", "10s", "-nats", "nats://n:4222", "-api-server", "https://k:6443", "-log-source", "cm"],
            as: Aggregator.self)
        #expect(aggregator.addr == ListenAddress(host: "0.0.0.0", port: 9090))
        #expect(aggregator.refresh.duration == .seconds(10))
        #expect(aggregator.nats.nats == "nats://n:4222")
        #expect(aggregator.apiServer == "https://k:6443")
        #expect(aggregator.logSource == "cm")
    }

    @Test func defaultsAreTheReferenceOnes() throws {
        let aggregator = try parse(["aggregator"], as: Aggregator.self)
        #expect(aggregator.addr.port == 8080)
        #expect(aggregator.refresh.duration == .seconds(5))
        #expect(aggregator.nats.nats == "nats://nats:4222")
        #expect(aggregator.logSource == "cluster-monitor")
    }

    @Test func environmentVariablesFillOptionsTheCommandLineLacks() throws {
        let environment = ["NATS_URL": "nats://env:4222", "REFRESH": "1m", "ADDR": ":7000", "NATS_TLS": "true", "NATS_PASSWORD": "pw"]
        let aggregator = try parse(["aggregator", "-addr", ":9000"], environment: environment, as: Aggregator.self)
        #expect(aggregator.nats.nats == "nats://env:4222")
        #expect(aggregator.refresh.duration == .seconds(60))
        #expect(aggregator.addr.port == 9000, "the command line wins over the environment")
        #expect(aggregator.nats.natsTls)
        #expect(aggregator.nats.natsPassword == "pw")
    }

    @Test func remoteWriteFlagsAreChecked() throws {
        let logger = Logger(label: "test")
        func writer(_ arguments: [String]) throws -> RemoteWriter? {
            try parse(["aggregator"] + arguments, as: Aggregator.self).serving.makeRemoteWriter(logger: logger)
        }
        #expect(try writer([]) == nil)
        #expect(throws: ValidationError.self) { try writer(["--history", "remote-only"]) }
        #expect(throws: ValidationError.self) { try writer(["--remote-write-url", "ftp://x/write"]) }
        #expect(throws: ValidationError.self) { try writer(["--remote-write-url", "http://x/w", "--remote-write-header", "no-equals"]) }
        #expect(throws: ValidationError.self) { try writer(["--remote-write-url", "http://x/w", "--remote-write-username", "u", "--remote-write-bearer-token-file", "/etc/hostname"]) }
        #expect(throws: ValidationError.self) { try writer(["--remote-write-url", "http://x/w", "--remote-write-bearer-token-file", "/nonexistent/token"]) }
        #expect(throws: ValidationError.self) { try writer(["--remote-write-url", "http://x/w", "--remote-write-replica-label", "bad-label"]) }
        let two = try #require(try writer(["--remote-write-url", "http://a:9090/api/v1/write,https://user:secret@b/push?x=1", "--cluster-name", "c1", "--replica", "r"]))
        #expect(two.configuration.targets.map(\.displayURL) == ["http://a:9090/api/v1/write", "https://b/push"], "no credentials or query in what is shown")
        #expect(two.configuration.cluster == "c1" && two.configuration.replica == "r" && two.configuration.replicaLabel == "replica")
        let fromEnvironment = try parse(["aggregator"], environment: ["REMOTE_WRITE_URL": "http://a/w", "REMOTE_WRITE_HEADER": "X-Scope-OrgID=t1"], as: Aggregator.self)
        let configured = try #require(try fromEnvironment.serving.makeRemoteWriter(logger: logger))
        #expect(configured.configuration.targets.first?.headers.map { "\($0.name)=\($0.value)" } == ["X-Scope-OrgID=t1"])
    }

    @Test func agentNeedsAValidNodeName() throws {
        #expect(throws: (any Error).self) { try parse(["agent"], as: Agent.self) }
        #expect(throws: (any Error).self) { try parse(["agent", "--node-name", "a.b"], as: Agent.self) }
        let agent = try parse(["agent"], environment: ["NODE_NAME": "worker-1"], as: Agent.self)
        #expect(agent.nodeName == "worker-1")
    }

    @Test func unknownOptionIsAnError() {
        #expect(throws: (any Error).self) { try parse(["dev", "--no-such-flag"], as: Dev.self) }
    }

    @Test(arguments: [
        ("5s", Duration.seconds(5)), ("1m30s", .seconds(90)), ("500ms", .milliseconds(500)),
        ("1h", .seconds(3600)), ("1.5s", .milliseconds(1500)), ("0", .zero),
    ])
    func goDurations(text: String, expected: Duration) {
        #expect(GoDuration(argument: text)?.duration == expected)
    }

    @Test(arguments: ["", "5", "5x", "s", "-1s"])
    func invalidGoDurations(text: String) {
        #expect(GoDuration(argument: text) == nil)
    }

    @Test func listenAddresses() {
        #expect(ListenAddress(":8080") == ListenAddress(host: "0.0.0.0", port: 8080))
        #expect(ListenAddress("127.0.0.1:0") == ListenAddress(host: "127.0.0.1", port: 0))
        #expect(ListenAddress("[::1]:9000") == ListenAddress(host: "::1", port: 9000))
        #expect(ListenAddress("8080") == nil)
        #expect(ListenAddress(":99999") == nil)
    }
}

/// The README lists every flag and environment variable of every command (a user never
/// reads the source to use clustermon).
@Suite("README")
struct ReadmeTests {
    static let readme: String = {
        (try? String(contentsOf: Fixtures.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }()

    @Test(arguments: ["dev", "agent", "aggregator", "simulate", "token"])
    func everyFlagAndVariableIsDocumented(command: String) throws {
        #expect(!Self.readme.isEmpty)
        let type = try #require(Clustermon.configuration.subcommands.first { $0.configuration.commandName == command })
        let help = type.helpMessage(columns: 400)
        let flags = Set(help.matches(of: /--[a-z0-9][a-z0-9-]*/).map { String($0.output) }).subtracting(["--help", "--version"])
        #expect(!flags.isEmpty)
        for flag in flags.sorted() {
            #expect(Self.readme.contains("`\(flag)`") || Self.readme.contains("`\(flag) ") || Self.readme.contains("`\(flag)=") || Self.readme.contains("`\(flag),"),
                    "\(command) \(flag) is not in the README")
        }
        let variables = Set(help.matches(of: /\(env ([A-Z0-9_]+)\)/).map { String($0.output.1) })
        for variable in variables.sorted() {
            #expect(Self.readme.contains("`\(variable)`"), "\(command)'s \(variable) is not in the README")
        }
    }
}

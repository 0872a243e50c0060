import AgentCLI
import ArgumentParser
import Foundation

public struct Clustermon: AsyncParsableCommand {
    public static let version = ClustermonVersion.current

    public static let configuration = CommandConfiguration(
        commandName: "clustermon",
        abstract: "Kubernetes monitoring: node and pod metrics, service dependencies, deployment heartbeat.",
        version: version,
        subcommands: [Dev.self, Agent.self, Aggregator.self, Simulate.self, TokenCommand.self, VersionCommand.self]
    )

    public init() {}

    /// Parses the process's arguments (plus the environment variables its subcommand
    /// binds) and runs the chosen subcommand; exits with a message and code on errors.
    public static func runFromCommandLine() async {
        let arguments = withEnvironment(Array(CommandLine.arguments.dropFirst()), ProcessInfo.processInfo.environment)
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    /// Adds environment-provided options for the subcommand named in `arguments`.
    public static func withEnvironment(_ arguments: [String], _ environment: [String: String]) -> [String] {
        guard let name = arguments.first,
              let command = configuration.subcommands.first(where: { $0.configuration.commandName == name }),
              let configurable = command as? any EnvironmentConfigurable.Type
        else { return arguments }
        return [name] + EnvironmentArguments.apply(configurable.environment, to: Array(arguments.dropFirst()), environment: environment)
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("clustermon \(Clustermon.version)")
    }
}

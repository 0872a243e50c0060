import AgentCLI

// `clustermon-agent`: the DaemonSet's binary, the same command as `clustermon agent`.
await Agent.runFromCommandLine()

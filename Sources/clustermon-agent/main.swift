import AgentCLI

// `clustermon-agent`: the DaemonSet's binary, the same command as `clustermon agent`, on one
// thread (see AgentRuntime).
await AgentRuntime.onOneThread {
    await Agent.runFromCommandLine()
}

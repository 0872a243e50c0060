import ClustermonCLI

await Clustermon.runFromCommandLine()

import Testing
import TestSupport
@testable import Kubernetes

private func summary(_ name: String) throws -> KubeletSummary {
    try SummaryDecoder.decode(Fixtures.bytes("kubelet-stats-summary/\(name)"))
}

private func pods(_ name: String) throws -> [Pod] {
    try Pod.decodeList(Fixtures.bytes("kubelet-pods/\(name)")).items
}

@Suite("Kubelet /stats/summary on real samples")
struct SummaryDecoderTests {
    @Test func gkeSummaryWithUserDefinedMetrics() throws {
        let s = try summary("ddic_stats_summary.json")
        #expect(s.node.nodeName == "gke-lenaic-pool-1-1c8b424c-wnkn")
        #expect(s.pods.count == 10)
        #expect(s.node.cpu.usageNanoCores == 112_148_031)
        #expect(s.node.cpu.usageCoreNanoSeconds == 49_365_244_626_551)
        #expect(s.node.memory.workingSetBytes == 1_447_833_600)
        #expect(s.node.fs?.capacityBytes == 101_241_290_752)
        #expect(s.node.imageFs?.usedBytes == 4_808_304_320)
        #expect(s.node.interfaces.count == 2)
        let pod = s.pods[0]
        #expect(pod.name == "fluentd-gcp-v2.0.10-9q9t4")
        #expect(pod.namespace == "kube-system")
        #expect(pod.uid == "2edfd4d9-10ce-11e8-bd5a-42010af00137")
        #expect(pod.cpu.usageNanoCores == 31_039_055)
        #expect(pod.memory.workingSetBytes == 124_628_992)
        #expect(pod.containers.count == 3)
        #expect(pod.volumes.count == 4)
        #expect(pod.ephemeralStorage?.usedBytes == 69_406_720)
        #expect(pod.containers[0].name == "agent")
        #expect(pod.containers[0].cpu.usageCoreNanoSeconds == 2_505_102_601_908)
        #expect(pod.containers[0].rootfs?.usedBytes == 5_275_648)
        #expect(pod.containers[0].logs?.usedBytes == 45_785_088)
        #expect(s.pods.filter(\.volumes.isEmpty).map(\.name).contains("kube-proxy-gke-lenaic-pool-1-1c8b424c-wnkn"))
    }

    @Test func minikube118Docker() throws {
        let s = try summary("nri_k8s-1.18_docker_stats-summary.json")
        #expect(s.node.nodeName == "minikube")
        #expect(s.pods.count == 15)
        #expect(s.node.cpu.usageNanoCores == 531_792_834)
        #expect(s.node.memory.workingSetBytes == 1_438_248_960)
        #expect(s.node.fs?.capacityBytes == 18_211_586_048)
        #expect(s.pods[0].name == "coredns-66bff467f8-hm847")
        #expect(s.pods[0].cpu.usageNanoCores == 2_556_552)
        #expect(s.pods[0].containers[0].cpu.usageCoreNanoSeconds == 3_129_944_236)
        // Pods without a `volume` key decode with no volumes.
        #expect(s.pods.filter(\.volumes.isEmpty).count >= 4)
    }

    @Test func containerd124WithProcessStats() throws {
        let s = try summary("nri_k8s-1.24_containerd_stats-summary.json")
        #expect(s.node.nodeName == "datagen-1-24")
        #expect(s.pods.count == 17)
        #expect(s.node.cpu.usageNanoCores == 915_969_827)
        #expect(s.node.interfaces.count == 3)
        #expect(s.pods[0].name == "kube-apiserver-datagen-1-24")
        #expect(s.pods[0].memory.workingSetBytes == 323_174_400)
        #expect(s.pods[0].volumes.isEmpty)
        #expect(s.pods[0].ephemeralStorage?.usedBytes == 86_016)
    }

    @Test func containerd134WithPsiIoAndSwapIgnored() throws {
        let s = try summary("nri_k8s-1.34_containerd_stats-summary.json")
        #expect(s.node.nodeName == "datagen-1-34")
        #expect(s.pods.count == 18)
        #expect(s.node.cpu.usageNanoCores == 644_367_996)
        #expect(s.node.cpu.usageCoreNanoSeconds == 63_349_226_000)
        #expect(s.node.memory.workingSetBytes == 898_445_312)
        #expect(s.node.fs?.capacityBytes == 485_473_984_512)
        #expect(s.node.imageFs?.usedBytes == 1_846_775_808)
        #expect(s.node.interfaces.count == 10)
        #expect(s.pods[0].name == "e2e-deployment-6fb786454b-7fsxc")
        #expect(s.pods[0].namespace == "scraper")
        #expect(s.pods[0].cpu.usageNanoCores == 79_902_760)
        #expect(s.pods[0].containers[0].name == "compute-pi-digits")
        #expect(s.pods[0].volumes.count == 2)
    }

    @Test func truncatedSummaryIsAClearError() throws {
        let bytes = try Fixtures.bytes("kubelet-stats-summary/nri_k8s-1.34_containerd_stats-summary.json")
        #expect(throws: JSONError.self) { try SummaryDecoder.decode(Array(bytes.prefix(bytes.count / 2))) }
        #expect(throws: JSONError.self) { try SummaryDecoder.decode(Array("<html>502 Bad Gateway</html>".utf8)) }
    }
}

@Suite("Kubelet /pods on real samples")
struct PodListDecoderTests {
    @Test func oomKilledAndCrashLoopBackOff() throws {
        let list = try pods("ddic_pods_crashed_oomkilled.json")
        #expect(list.count == 6)
        let fluentd = try #require(list.first { $0.name == "fluentd-gcp-v2.0.10-9q9t4" })
        #expect(fluentd.namespace == "kube-system")
        #expect(fluentd.podIP == "10.8.2.4")
        #expect(fluentd.metadata.controller == OwnerReference(kind: "DaemonSet", name: "fluentd-gcp-v2.0.10", uid: fluentd.metadata.ownerReferences.first?.uid ?? "", controller: true))
        let agent = fluentd.containerStatuses[0]
        #expect(agent.name == "fluentd-gcp")
        #expect(agent.runtime == "docker")
        #expect(agent.containerID == "5741ed2471c0e458b6b95db40ba05d1a5ee168256638a0264f08703e48d76561")
        #expect(agent.restartCount == 1)
        #expect(agent.state == "running")
        #expect(agent.lastTerminationReason == "OOMKilled")
        #expect(agent.lastExitCode == 2)
        #expect(agent.oomKilled)
        let exporter = fluentd.containerStatuses[1]
        #expect(exporter.state == "waiting")
        #expect(exporter.stateReason == "CrashLoopBackOff")
        #expect(!exporter.oomKilled)
        #expect(fluentd.containers[0].requests["cpu"]?.milliValue == 100)
        #expect(fluentd.containers[0].requests["memory"]?.value == 200 << 20)
        #expect(fluentd.containers[0].limits["memory"]?.value == 300 << 20)
        // A Pending static pod has no container statuses at all.
        #expect(list.first { $0.name == "kube-proxy-gke-haissam-default-pool-be5066f1-wnvn" }?.containerStatuses.isEmpty == true)
    }

    @Test func containerd134PhasesJobsAndCrashLoop() throws {
        let list = try pods("nri_k8s-1.34_containerd_pods.json")
        #expect(list.count == 24)
        #expect(list.filter { $0.phase == "Running" }.count == 19)
        #expect(list.filter { $0.phase == "Failed" }.count == 4)
        #expect(list.filter { $0.phase == "Succeeded" }.count == 1)
        let creating = try #require(list.first { $0.name == "e2e-container-creating" })
        let status = creating.containerStatuses[0]
        #expect(status.runtime == "containerd")
        #expect(status.containerID == "a4839b8bc16e60e0b4492936c5ad5e7acd5a46ded82c4a5f6133fea24fa058f9")
        #expect(status.restartCount == 2)
        #expect(status.stateReason == "CrashLoopBackOff")
        #expect(status.lastTerminationReason == "Completed")
        #expect(list.first { $0.name == "e2e-failjob-nkct8" }?.metadata.controller?.kind == "Job")
        // When the running instance started (the history's container uptime); a waiting one has none.
        let kindnet = try #require(list.first { $0.name == "kindnet-zqk2n" }?.containerStatuses.first)
        #expect(kindnet.startedAt == UnixTime(rfc3339: "2026-01-13T18:38:11Z"))
        #expect(status.startedAt == nil)
    }

    @Test func docker118CoreDNSAndHostNetwork() throws {
        let list = try pods("nri_k8s-1.18_docker_pods.json")
        #expect(list.count == 16)
        let dns = try #require(list.first { $0.name.hasPrefix("coredns-") })
        #expect(dns.uid == "ffc5a2aa-d3c6-4b73-aa30-2da68fbf94de")
        #expect(dns.qosClass == "Burstable")
        #expect(dns.podIPs == ["172.17.0.2"])
        #expect(dns.containers[0].ports.map(\.containerPort) == [53, 53, 9153])
        #expect(dns.containers[0].ports.map(\.protocol) == ["UDP", "TCP", "TCP"])
        #expect(dns.containerStatuses[0].containerID == "ccfe6b89b8cf6216b08c6f21efcd31d314002d63c194423e77a69fc704653f86")
        #expect(dns.metadata.controller?.kind == "ReplicaSet")
        #expect(list.first { $0.name == "storage-provisioner" }?.hostNetwork == true)
    }

    @Test func olderAndEmptyLists() throws {
        #expect(try pods("dda_podlist_1.8-2.json").count == 7)
        #expect(try pods("ddic_podlist_containerd.json").count == 8)
        #expect(try pods("dda_podlist_empty.json").isEmpty)
        #expect(try pods("ddic_podlist_containerd.json").allSatisfy { !$0.uid.isEmpty && !$0.namespace.isEmpty })
    }
}
